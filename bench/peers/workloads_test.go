package peers

import (
	"strings"
	"testing"
)

// TestWorkloadsSmoke runs every workload, shrunk 50 times, once on every
// runner: each consumes every result (or exactly StopAfter of them), the
// ordered ones in order, and the table has a row per runner.
func TestWorkloadsSmoke(t *testing.T) {
	for _, w := range Workloads(1, 50) {
		t.Run(w.Name, func(t *testing.T) {
			res := Rounds(w, Runners, 1, 1)
			for _, r := range res {
				run := r.Runs[0]
				want := int64(w.Job.N)
				if w.StopAfter > 0 {
					want = int64(w.StopAfter)
				}
				if run.Consumed != want {
					t.Errorf("%s: %d results consumed, want %d", r.Runner.Name, run.Consumed, want)
				}
				if w.StopAfter == 0 && run.Calls != want {
					t.Errorf("%s: %d calls, want %d", r.Runner.Name, run.Calls, want)
				}
				if r.Runner.Ordered && run.OutOfOrder != 0 {
					t.Errorf("%s: %d results out of order", r.Runner.Name, run.OutOfOrder)
				}
				if run.ReadAhead < 1 || run.ReadAhead > run.Calls {
					t.Errorf("%s: read-ahead %d of %d calls", r.Runner.Name, run.ReadAhead, run.Calls)
				}
			}
			var b strings.Builder
			Table(&b, w, res)
			if rows := strings.Count(b.String(), "\n| "); rows != len(Runners)+1 {
				t.Errorf("table has %d rows, want %d:\n%s", rows, len(Runners)+1, b.String())
			}
		})
	}
}
