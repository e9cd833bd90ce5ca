package control_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/nvme/target/control"
)

// A target served with a control socket, changed through the Client.
func Example() {
	tg, err := target.New(target.Config{Namespaces: 1, NamespaceSize: 1 << 20})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tg.Close()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ln, err := control.Listen(filepath.Join(dir, "ctl.sock"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- control.Serve(ctx, ln, tg) }()
	defer func() { cancel(); <-done }()

	c := control.NewClient(filepath.Join(dir, "ctl.sock"))
	defer c.Close()
	ns, err := c.Attach(ctx, target.DefaultNQN, control.AttachRequest{NSID: 2, Size: 4 << 20})
	fmt.Println(ns, err)
	ns, err = c.Resize(ctx, target.DefaultNQN, 1, 2<<20)
	fmt.Println(ns, err)
	_, err = c.Attach(ctx, target.DefaultNQN, control.AttachRequest{NSID: 2})
	fmt.Println(err)
	// Output:
	// {2 4194304 512} <nil>
	// {1 2097152 512} <nil>
	// control: 409: nsid: target: namespace already attached: NSID 2
}
