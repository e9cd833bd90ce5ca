package target_test

import (
	"context"
	"fmt"

	"github.com/complchain/complchain/nvme/target"
)

// Start an emulated subsystem with four 1 GiB namespaces on a free loopback
// port; hosts connect to the printed address.
func ExampleTarget_Start() {
	t, err := target.New(target.Config{NQN: "nqn.2026-01.io.example:demo", Namespaces: 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer t.Close()
	if err := t.WriteAt(1, []byte("hello"), 0); err != nil {
		fmt.Println(err)
		return
	}
	addr, err := t.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = addr // e.g. "nvme connect -t tcp -a 127.0.0.1 -s PORT -n nqn.2026-01.io.example:demo"
	for _, ns := range t.Namespaces() {
		fmt.Println(ns.NSID, ns.Size, ns.BlockSize)
	}
	// Output:
	// 1 1073741824 512
	// 2 1073741824 512
	// 3 1073741824 512
	// 4 1073741824 512
}

// Attaching a namespace at run time raises the namespace attribute changed
// event on connected controllers.
func ExampleTarget_Attach() {
	t, err := target.New(target.Config{Namespaces: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer t.Close()
	if err := t.Attach(target.Namespace{NSID: 7, Size: 1 << 40, BlockSize: 4096}); err != nil {
		fmt.Println(err)
	}
	if err := t.Detach(1); err != nil {
		fmt.Println(err)
	}
	fmt.Println(t.Namespaces()[0].NSID, t.Namespaces()[0].Size)
	// Output: 7 1099511627776
}

// Serve two subsystems on two ports; host B may connect to the second
// subsystem only once it is allowed.
func ExampleTarget_Subsystem() {
	t, err := target.New(target.Config{
		Subsystems: []target.SubsystemConfig{
			{NQN: "nqn.2026-01.io.example:a", Namespaces: 2},
			{NQN: "nqn.2026-01.io.example:b", Namespaces: 1, AllowedHosts: []string{"nqn.2026-01.io.example:host-a"}},
		},
		Referrals: []target.Referral{{Addr: "192.0.2.1:8009"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer t.Close()
	for range 2 {
		if _, err := t.Start(context.Background(), ""); err != nil {
			fmt.Println(err)
			return
		}
	}
	b := t.Subsystem("nqn.2026-01.io.example:b")
	if err := b.AllowHost("nqn.2026-01.io.example:host-b"); err != nil {
		fmt.Println(err)
	}
	hosts, anyHost := b.AllowedHosts()
	fmt.Println(len(t.Ports()), "ports;", b.NQN(), hosts, anyHost)
	// Output: 2 ports; nqn.2026-01.io.example:b [nqn.2026-01.io.example:host-a nqn.2026-01.io.example:host-b] false
}

// New names the field of an invalid configuration.
func ExampleNew() {
	_, err := target.New(target.Config{Subsystems: []target.SubsystemConfig{
		{NQN: "nqn.2026-01.io.example:a"},
		{NQN: "nqn.2026-01.io.example:a"},
	}})
	fmt.Println(err)
	// Output: target: invalid configuration: Subsystems[1].NQN "nqn.2026-01.io.example:a" served twice
}
