package peers

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"slices"
	"time"
)

// A Run is what one run of a Runner on a Workload measured.
type Run struct {
	Wall       time.Duration
	PeakHeap   uint64 // heap objects and stacks above their level before the run, bytes
	ReadAhead  int64  // max of calls started minus results consumed
	Calls      int64  // calls of Task started
	Consumed   int64
	OutOfOrder int64
	// For a consumer that breaks: calls started after the break, and the
	// time from the break to the Runner's return.
	CallsAfterBreak int64
	StopLatency     time.Duration
}

// heapSample names the runtime metrics summed as the heap in use.
var heapSample = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/stacks:bytes"},
}

func heapNow(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// Measure runs r on w once, after a GC, sampling the heap every
// millisecond from another goroutine.
func Measure(w Workload, r Runner) Run {
	p := &Probe{stopAfter: int64(w.StopAfter)}
	j := p.wrap(w.Job, w.Consume)

	runtime.GC()
	s := slices.Clone(heapSample)
	base := heapNow(s)
	done := make(chan uint64)
	quit := make(chan struct{})
	go func() {
		s := slices.Clone(heapSample)
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, heapNow(s))
			select {
			case <-t.C:
			case <-quit:
				done <- max(peak, heapNow(s))
				return
			}
		}
	}()

	start := time.Now()
	r(j)
	end := time.Now()
	close(quit)
	peak := <-done

	run := Run{
		Wall:       end.Sub(start),
		ReadAhead:  p.maxAhead.Load(),
		Calls:      p.started.Load(),
		Consumed:   p.consumed.Load(),
		OutOfOrder: p.outOfOrder,
	}
	if peak > base {
		run.PeakHeap = peak - base
	}
	if p.stopped.Load() {
		run.CallsAfterBreak = run.Calls - p.startedAtBreak
		run.StopLatency = end.Sub(p.breakAt)
	}
	return run
}

// Result gathers the runs of one Runner on one Workload over the rounds,
// with the ratio of each run's wall time to the baseline's in its round.
type Result struct {
	Runner NamedRunner
	Runs   []Run
	Ratios []float64
}

// Rounds runs every Runner once per round on w, in an order shuffled per
// round from seed, so that what else the machine does falls on all of them
// alike. runners[0] is the baseline the ratios are taken to.
func Rounds(w Workload, runners []NamedRunner, rounds int, seed uint64) []Result {
	res := make([]Result, len(runners))
	for i := range res {
		res[i].Runner = runners[i]
	}
	rng := rand.New(rand.NewPCG(seed, 0x726f756e64))
	order := make([]int, len(runners))
	for range rounds {
		for i := range order {
			order[i] = i
		}
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		walls := make([]time.Duration, len(runners))
		for _, i := range order {
			run := Measure(w, runners[i].Run)
			walls[i] = run.Wall
			res[i].Runs = append(res[i].Runs, run)
		}
		for i := range res {
			res[i].Ratios = append(res[i].Ratios, float64(walls[i])/float64(walls[0]))
		}
	}
	return res
}

func median[T int64 | uint64 | float64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func field[T any](runs []Run, f func(Run) T) []T {
	v := make([]T, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	return v
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.2f", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f", float64(d)/1e6)
}

func mib(b uint64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// Table writes the results of one workload as a Markdown table: median
// wall time and its range over the rounds, the median of the per-round
// ratios to the baseline, the median peak heap, the largest read-ahead,
// and for a consumer that breaks the calls made and the time to stop.
func Table(out io.Writer, w Workload, res []Result) {
	stop := w.StopAfter > 0
	fmt.Fprintf(out, "%s — %s, %d rounds\n\n", w.Name, w.Doc, len(res[0].Runs))
	if stop {
		fmt.Fprintln(out, "| implementation | wall ms | min–max | × baseline | peak heap MiB | read-ahead | calls | calls after break | stop ms (median, max) |")
		fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	} else {
		fmt.Fprintln(out, "| implementation | wall ms | min–max | × baseline | peak heap MiB | read-ahead |")
		fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|")
	}
	for _, r := range res {
		walls := field(r.Runs, func(r Run) time.Duration { return r.Wall })
		fmt.Fprintf(out, "| %s | %s | %s–%s | %.2f | %s | %d |",
			r.Runner.Name, ms(median(walls)), ms(slices.Min(walls)), ms(slices.Max(walls)),
			median(r.Ratios), mib(median(field(r.Runs, func(r Run) uint64 { return r.PeakHeap }))),
			slices.Max(field(r.Runs, func(r Run) int64 { return r.ReadAhead })))
		if stop {
			lat := field(r.Runs, func(r Run) time.Duration { return r.StopLatency })
			fmt.Fprintf(out, " %d | %d | %s, %s |",
				median(field(r.Runs, func(r Run) int64 { return r.Calls })),
				slices.Max(field(r.Runs, func(r Run) int64 { return r.CallsAfterBreak })),
				ms(median(lat)), ms(slices.Max(lat)))
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out)
}
