package scan_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/target"
)

// BenchmarkScan measures a scan of N namespaces over loopback, with no
// emulated delay and with the seed's low-latency round trip (0.2 ms); the
// connection is made once, each iteration is a first scan.
func BenchmarkScan(b *testing.B) {
	for _, rtt := range []time.Duration{0, 200 * time.Microsecond} {
		for _, n := range []int{100, 1000} {
			for _, mode := range []scan.Mode{scan.Ordered, scan.Async} {
				b.Run(fmt.Sprintf("RTT=%v/N=%d/%v", rtt, n, mode), func(b *testing.B) {
					_, c := setup(b, target.Config{Namespaces: n, QueueDepth: 1024, Delay: rtt / 2})
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
