package fabric

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/complchain/complchain/scanmode"
)

// benchFabric measures n controllers of ns namespaces each at round-trip
// time rtt: each iteration scans them all in ordered mode, in async mode,
// and the first controller alone in ordered mode, in alternating order so
// that a noisy machine affects them alike. A scan is timed from its start
// until every namespace of every controller is named (connect, bring-up,
// numbering, namespace scans; not the disconnect). It reports the medians
// (ordered-ms, async-ms, one-ms), their ratios ordered/async and
// ordered/one, and the process's peak RSS, the targets' included.
func benchFabric(b *testing.B, n, ns int, rtt time.Duration) {
	delays := make([]time.Duration, n)
	for i := range delays {
		delays[i] = rtt / 2
	}
	ports := startTargets(b, ns, delays...)
	scanOnce := func(mode scanmode.Mode, ports []Port) time.Duration {
		res, err := (&Scanner{Mode: mode}).Scan(context.Background(), ports)
		if err != nil || len(res.Controllers) != len(ports) {
			res.Close()
			b.Fatalf("%v, %d controllers, failed %v", err, len(res.Controllers), res.Failed)
		}
		defer res.Close()
		for _, c := range res.Controllers {
			if c.Err != nil || len(c.Result.Added) != ns {
				b.Fatalf("%s: %v, %d added, failed %v", c.Name, c.Err, len(c.Result.Added), c.Result.Failed[:min(3, len(c.Result.Failed))])
			}
		}
		return res.Elapsed
	}
	var ordered, async, one []time.Duration
	runs := []func(){
		func() { ordered = append(ordered, scanOnce(scanmode.Ordered, ports)) },
		func() { async = append(async, scanOnce(scanmode.Async, ports)) },
		func() { one = append(one, scanOnce(scanmode.Ordered, ports[:1])) },
	}
	for i := 0; b.Loop(); i++ {
		for j := range runs {
			if i%2 == 0 {
				runs[j]()
			} else {
				runs[len(runs)-1-j]()
			}
		}
	}
	o, a, s := median(ordered), median(async), median(one)
	b.ReportMetric(float64(o)/1e6, "ordered-ms")
	b.ReportMetric(float64(a)/1e6, "async-ms")
	b.ReportMetric(float64(s)/1e6, "one-ms")
	b.ReportMetric(float64(o)/float64(a), "ordered/async")
	b.ReportMetric(float64(o)/float64(s), "ordered/one")
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func BenchmarkFabric16x1000RTT15ms(b *testing.B) { benchFabric(b, 16, 1000, 15*time.Millisecond) }
func BenchmarkFabric64x100RTT200us(b *testing.B) { benchFabric(b, 64, 100, 200*time.Microsecond) }
