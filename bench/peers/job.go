package peers

import (
	"context"
	"sync/atomic"
	"time"
)

// A Job is one workload as every implementation runs it: N calls of Task
// (N = 0: an endless input), at most Limit running at once, and each
// result handed to Consume — in input order by the ordered
// implementations, in completion order by the unordered baseline. Consume
// is called by one goroutine at a time; when it returns false the consumer
// stops (a break out of the loop), and the implementation must stop
// starting work and return.
type Job struct {
	N       int
	Limit   int
	Task    func(ctx context.Context, i int) int
	Consume func(r int) bool
}

// A Runner runs a Job to the end: it returns once every call of Task it
// started has returned and none of its goroutines is left.
type Runner func(j Job)

// A Probe counts what a Runner does with a Job: calls of Task started,
// results consumed, the read-ahead (calls started minus results consumed),
// and where the consumer stopped.
type Probe struct {
	started  atomic.Int64
	consumed atomic.Int64
	maxAhead atomic.Int64
	stopped  atomic.Bool

	stopAfter      int64 // results after which Consume returns false; 0: never
	breakAt        time.Time
	startedAtBreak int64
	outOfOrder     int64 // results not equal to their position (ordered runners)
}

// wrap returns j with Task counted by p and Consume calling consume (if
// not nil) and counting. Task's results are the task numbers, so Consume
// can check the order.
func (p *Probe) wrap(j Job, consume func(int)) Job {
	task := j.Task
	j.Task = func(ctx context.Context, i int) int {
		ahead := p.started.Add(1) - p.consumed.Load()
		for m := p.maxAhead.Load(); ahead > m && !p.maxAhead.CompareAndSwap(m, ahead); m = p.maxAhead.Load() {
		}
		task(ctx, i)
		return i
	}
	j.Consume = func(r int) bool {
		if p.stopped.Load() {
			return false
		}
		n := p.consumed.Load()
		if int64(r) != n {
			p.outOfOrder++
		}
		if consume != nil {
			consume(r)
		}
		p.consumed.Store(n + 1)
		if p.stopAfter > 0 && n+1 >= p.stopAfter {
			p.breakAt = time.Now()
			p.startedAtBreak = p.started.Load()
			p.stopped.Store(true)
			return false
		}
		return true
	}
	return j
}
