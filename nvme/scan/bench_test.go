package scan_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scanmode"
)

// BenchmarkScan measures a scan of N namespaces over loopback, with no
// emulated delay and with the seed's low-latency round trip (0.2 ms); the
// connection is made once, each iteration is a first scan.
func BenchmarkScan(b *testing.B) {
	for _, rtt := range []time.Duration{0, 200 * time.Microsecond} {
		for _, n := range []int{100, 1000} {
			for _, mode := range []scanmode.Mode{scanmode.Ordered, scanmode.Async} {
				b.Run(fmt.Sprintf("RTT=%v/N=%d/%v", rtt, n, mode), func(b *testing.B) {
					_, c := setup(b, target.Config{Namespaces: n, AdminQueueDepth: 1024, IOQueueDepth: 1024, Delay: rtt / 2})
					var last time.Duration
					for b.Loop() {
						s := &scan.Scanner{Ctrl: c, Mode: mode}
						res, err := s.Scan(context.Background())
						if err != nil || len(res.Added) != n {
							b.Fatalf("added %d, %v", len(res.Added), err)
						}
						last = res.Elapsed
					}
					_ = last
					b.ReportMetric(float64(scan.Bound(rtt, n, c.QueueDepth()).Microseconds()), "bound-µs")
				})
			}
		}
	}
}

// BenchmarkFloor measures the least time a scan of N namespaces can take
// on this machine and link, whatever the software: the bytes of the scan
// through the same emulated link as BenchmarkScan with no NVMe work at
// all (see Floor). Its ratio to the bound shows how much of a scan's
// distance from the bound is the cost of moving the data.
func BenchmarkFloor(b *testing.B) {
	for _, rtt := range []time.Duration{0, 200 * time.Microsecond} {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("RTT=%v/N=%d", rtt, n), func(b *testing.B) {
				f, err := scan.NewFloor(context.Background(), rtt, n, 1023)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				for b.Loop() {
					if _, err := f.Run(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(scan.Bound(rtt, n, 1023).Microseconds()), "bound-µs")
			})
		}
	}
}
