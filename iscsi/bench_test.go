package iscsi

import (
	"fmt"
	"testing"
	"time"

	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/scsi"
)

// BenchmarkScan scans hosts × LUNs over iSCSI on loopback with an
// emulated round trip (the target's netem link), in each mode: login,
// REPORT LUNS and four commands a LUN, disks named through the chain.
// Run with -benchtime 1x: one scan is seconds long in sync mode.
func BenchmarkScan(b *testing.B) {
	for _, c := range []struct {
		hosts, luns int
		rtt         time.Duration
		modes       []scanmode.Mode
	}{
		{64, 16, 5 * time.Millisecond, []scanmode.Mode{scanmode.Ordered, scanmode.Async, scanmode.Sync}},
		{1024, 16, 200 * time.Microsecond, []scanmode.Mode{scanmode.Ordered, scanmode.Async}},
	} {
		hosts := make([]*scsi.Host, c.hosts)
		for i := range hosts {
			hosts[i] = &scsi.Host{LUNs: c.luns}
		}
		tg := NewTarget(TargetConfig{Hosts: hosts, Delay: c.rtt / 2})
		addr, err := tg.Start(b.Context(), "")
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range c.modes {
			b.Run(fmt.Sprintf("hosts=%d/luns=%d/rtt=%v/%v", c.hosts, c.luns, c.rtt, m), func(b *testing.B) {
				for b.Loop() {
					s := &scsi.Scanner{Mode: m, Timeout: time.Minute}
					var hs []*Host
					for n := range c.hosts {
						h := NewHost(addr, Config{TargetName: tg.Name(n)})
						hs = append(hs, h)
						s.AddHost(b.Context(), h)
					}
					s.WaitScans(b.Context())
					s.Close()
					b.StopTimer()
					if len(s.Devices()) != c.hosts*c.luns || len(s.Errors()) > 0 {
						b.Fatalf("%d devices, errors %v", len(s.Devices()), s.Errors())
					}
					for _, h := range hs {
						h.Close(b.Context())
					}
					b.StartTimer()
				}
			})
		}
		tg.Close()
	}
}
