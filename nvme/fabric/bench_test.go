package fabric

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/scanmode"
)

// benchFabric scans n controllers of ns namespaces each at round-trip
// time rtt in each mode, and reports, besides the time of a whole scan
// (connect, bring-up, numbering and every namespace scan): the slowest
// controller's namespace scan over scan.Bound for one controller
// (scan/bound), and the process's peak RSS (targets included).
func benchFabric(b *testing.B, n, ns int, rtt time.Duration) {
	delays := make([]time.Duration, n)
	for i := range delays {
		delays[i] = rtt / 2
	}
	ports := startTargets(b, ns, delays...)
	for _, mode := range []scanmode.Mode{scanmode.Ordered, scanmode.Async} {
		b.Run(mode.String(), func(b *testing.B) {
			var worst float64
			for b.Loop() {
				res, err := (&Scanner{Mode: mode}).Scan(context.Background(), ports)
				if err != nil || len(res.Controllers) != n {
					b.Fatalf("%v, %d controllers, failed %v", err, len(res.Controllers), res.Failed)
				}
				for _, c := range res.Controllers {
					if c.Err != nil || len(c.Result.Added) != ns {
						b.Fatalf("%s: %v, %d added, failed %v", c.Name, c.Err, len(c.Result.Added), c.Result.Failed[:min(3, len(c.Result.Failed))])
					}
					bound := scan.Bound(rtt, ns, c.Ctrl.QueueDepth())
					worst = max(worst, float64(c.Result.Elapsed)/float64(bound))
				}
				b.StopTimer()
				res.Close()
				b.StartTimer()
			}
			b.ReportMetric(worst, "scan/bound")
			var ru syscall.Rusage
			if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
				b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
			}
		})
	}
}

// One controller, the reference of the 16-controller run.
func BenchmarkFabric1x1000RTT15ms(b *testing.B)  { benchFabric(b, 1, 1000, 15*time.Millisecond) }
func BenchmarkFabric16x1000RTT15ms(b *testing.B) { benchFabric(b, 16, 1000, 15*time.Millisecond) }
func BenchmarkFabric64x100RTT200us(b *testing.B) { benchFabric(b, 64, 100, 200*time.Microsecond) }
