package peers

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"time"
)

// A Workload is a Job (its Consume left nil), the work the consumer does
// for each result, and when it stops: StopAfter > 0 makes the consumer
// break after that many results.
type Workload struct {
	Name      string
	Doc       string
	Job       Job
	Consume   func(r int)
	StopAfter int
}

// Scale shrinks the workloads for a smoke test: task counts are divided
// by it and durations too (1 keeps them as documented).
type Scale int

// Workloads returns the four workloads, their random durations drawn from
// seed: heavy tail, slow consumer, early stop (tiny tasks and 1 ms tasks),
// CPU-bound.
func Workloads(seed uint64, s Scale) []Workload {
	if s < 1 {
		s = 1
	}
	div := func(n int) int { return max(n/int(s), 1) }
	dur := func(d time.Duration) time.Duration { return d / time.Duration(s) }

	tail := TailDurations(seed, div(5000), dur(200*time.Microsecond))
	consume1us := func(int) { spin(dur(time.Microsecond)) }
	consume50us := func(int) { spin(dur(50 * time.Microsecond)) }
	cpu := cpuIterations(dur(20 * time.Microsecond))
	stopAfter := div(100)

	return []Workload{
		{
			Name: "heavy tail",
			Doc:  "5 000 tasks, limit 64, sleeps lognormal median 200 µs, 1 % ≥ 20 ms; consumer 1 µs/result",
			Job: Job{N: len(tail), Limit: 64,
				Task: func(_ context.Context, i int) int { time.Sleep(tail[i]); return i }},
			Consume: consume1us,
		},
		{
			Name: "slow consumer",
			Doc:  "10 000 tiny tasks, limit 64; consumer busy 50 µs/result",
			Job: Job{N: div(10000), Limit: 64,
				Task: func(_ context.Context, i int) int { return work(i) }},
			Consume: consume50us,
		},
		{
			Name: "early stop, tiny tasks",
			Doc:  "endless input of tiny tasks, limit 64; consumer breaks after 100 results",
			Job: Job{Limit: 64,
				Task: func(_ context.Context, i int) int { return work(i) }},
			StopAfter: stopAfter,
		},
		{
			Name: "early stop, 1 ms tasks",
			Doc:  "endless input of 1 ms sleeps (cut short when their context is cancelled), limit 64; consumer breaks after 100 results",
			Job: Job{Limit: 64,
				Task: func(ctx context.Context, i int) int { sleepCtx(ctx, dur(time.Millisecond)); return i }},
			StopAfter: stopAfter,
		},
		{
			Name: "CPU-bound",
			Doc:  "2 000 tasks of ~20 µs CPU work, limit GOMAXPROCS",
			Job: Job{N: div(2000), Limit: runtime.GOMAXPROCS(0),
				Task: func(_ context.Context, i int) int { return cpuWork(i, cpu) }},
		},
	}
}

// TailDurations draws n durations from a lognormal distribution of the
// given median whose 99th percentile is 100 × the median (σ = ln 100 /
// z₀.₉₉), so 1 % of them are at least 20 ms for a median of 200 µs.
func TailDurations(seed uint64, n int, median time.Duration) []time.Duration {
	const z99 = 2.3263478740408408
	sigma := math.Log(100) / z99
	r := rand.New(rand.NewPCG(seed, 0x7461696c))
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = time.Duration(float64(median) * math.Exp(sigma*r.NormFloat64()))
	}
	return d
}

// spin keeps the CPU busy for d: a consumer doing work, not sleeping (a
// sleep shorter than a millisecond lasts about one on Linux).
func spin(d time.Duration) {
	for t := time.Now(); time.Since(t) < d; {
	}
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	if ctx.Err() != nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// cpuWork runs n rounds of xorshift on i: CPU work with no memory traffic.
func cpuWork(i, n int) int {
	x := uint64(i) | 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return int(x & 1)
}

// cpuIterations returns the number of cpuWork rounds that take about d,
// the fastest of a few measurements (others may share the CPU).
func cpuIterations(d time.Duration) int {
	const n = 200000
	best := time.Duration(math.MaxInt64)
	for range 5 {
		t := time.Now()
		cpuWork(1, n)
		best = min(best, time.Since(t))
	}
	return max(int(float64(n)*float64(d)/float64(best)), 1)
}
