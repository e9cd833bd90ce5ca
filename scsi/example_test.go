package scsi_test

import (
	"context"
	"fmt"
	"time"

	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/scsi"
)

// Two hosts are scanned at once; the second is faster, yet the first
// host's disks are named first.
func Example() {
	s := &scsi.Scanner{Mode: scanmode.Ordered}
	s.AddHost(context.Background(), &scsi.Host{LUNs: 2, Latency: 2 * time.Millisecond})
	s.AddHost(context.Background(), &scsi.Host{LUNs: 1, Latency: time.Millisecond})
	if err := s.WaitScans(context.Background()); err != nil {
		fmt.Println(err)
	}
	s.Close()
	for _, d := range s.Devices() {
		fmt.Println(d.Addr, d.Name)
	}
	// Output:
	// 0:0:0:0 sda
	// 0:0:0:1 sdb
	// 1:0:0:0 sdc
}
