package scan_test

import (
	"context"
	"fmt"
	"time"

	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scanmode"
)

// Scan an emulated target whose first namespaces answer last: the ordered
// scan still names them in list order.
func Example() {
	delays := map[uint32]time.Duration{1: 3 * time.Millisecond, 2: 2 * time.Millisecond, 3: time.Millisecond}
	tg, err := target.New(target.Config{Namespaces: 4, Faults: target.Faults{Delay: delays}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tg.Close()
	addr, err := tg.Start(context.Background(), "")
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := host.Connect(context.Background(), addr, host.Config{SubsystemNQN: tg.NQN()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	s := &scan.Scanner{Ctrl: c, Mode: scanmode.Ordered}
	res, err := s.Scan(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ns := range res.Added {
		fmt.Println(ns.Name, "NSID", ns.NSID)
	}
	// Output:
	// nvme0n1 NSID 1
	// nvme0n2 NSID 2
	// nvme0n3 NSID 3
	// nvme0n4 NSID 4
}
