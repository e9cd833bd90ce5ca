package scsi

import (
	"context"

	"testing"
	"time"

	"github.com/complchain/complchain/scanmode"
)

// BenchmarkScan64Hosts16LUNs scans 64 hosts of 16 LUNs at 5 ms a command
// (4 commands a LUN, one host at a time on each host) in each mode; the
// ratios ordered/async and sync/ordered come from the ms/scan figures.
func BenchmarkScan64Hosts16LUNs(b *testing.B) {
	for _, mode := range []scanmode.Mode{scanmode.Async, scanmode.Ordered, scanmode.Sync} {
		b.Run(mode.String(), func(b *testing.B) {
			for b.Loop() {
				s := &Scanner{Mode: mode}
				for range 64 {
					s.AddHost(context.Background(), &Host{LUNs: 16, Latency: 5 * time.Millisecond})
				}
				if err := s.WaitScans(context.Background()); err != nil {
					b.Fatal(err)
				}
				s.Close()
				if n := len(s.Devices()); n != 64*16 {
					b.Fatalf("%d devices", n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scan")
		})
	}
}

// BenchmarkScan100000Devices names 100 000 disks (100 hosts × 10 targets
// × 100 LUNs) with no latency.
func BenchmarkScan100000Devices(b *testing.B) {
	for b.Loop() {
		s := &Scanner{}
		for range 100 {
			s.AddHost(context.Background(), &Host{Targets: 10, LUNs: 100})
		}
		if err := s.WaitScans(context.Background()); err != nil {
			b.Fatal(err)
		}
		s.Close()
		devs := s.Devices()
		if len(devs) != 100000 {
			b.Fatalf("%d devices", len(devs))
		}
		for i, d := range devs {
			want := Addr{Host: i / 1000, Target: i / 100 % 10, LUN: uint16(i % 100)}
			if d.Addr != want || d.Name != DiskName(i) {
				b.Fatalf("device %d: %v %s, want %v %s", i, d.Addr, d.Name, want, DiskName(i))
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scan")
}
