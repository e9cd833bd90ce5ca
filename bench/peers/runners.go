package peers

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync/atomic"

	"github.com/destel/rill"
	"github.com/sourcegraph/conc/stream"
	orderedconcurrently "github.com/tejzpr/ordered-concurrently/v3"
	"golang.org/x/sync/errgroup"

	"github.com/complchain/complchain"
)

// A NamedRunner is one implementation of a Job. Ordered is false for the
// baseline, which consumes results as they complete.
type NamedRunner struct {
	Name    string
	Ordered bool
	Run     Runner
}

// Runners lists the implementations the workloads compare; the first is
// the unordered baseline. Windows are in multiples of the limit; Group's
// default window is 16 × limit, Map's 64 × limit.
var Runners = []NamedRunner{
	{"errgroup, unordered (baseline)", false, errgroupUnordered},
	{"complchain.Group (window 16×limit, default)", true, groupRun(0, false)},
	{"complchain.Group SetWindow(64×limit)", true, groupRun(64, false)},
	{"complchain.Group, Entry.Then", true, groupRun(0, true)},
	{"complchain.Map (default window, 64×(limit+2))", true, mapRun(0)},
	{"complchain.MapWindow(16×limit)", true, mapRun(16)},
	{"sourcegraph/conc stream", true, concStreamJob},
	{"destel/rill OrderedMap", true, rillJob},
	{"tejzpr/ordered-concurrently", true, orderedConcurrentlyJob},
}

var errStop = errors.New("consumer stopped")

// inputs yields 0, 1, … up to n (forever if n = 0).
func inputs(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := 0; n == 0 || i < n; i++ {
			if !yield(i) {
				return
			}
		}
	}
}

// errgroupUnordered is the baseline: errgroup with the same limit, results
// sent on a channel of limit places to a consumer that takes them in
// completion order. A break cancels the tasks' context and stops the
// producer; the consumer then drains the channel.
func errgroupUnordered(j Job) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var g errgroup.Group
	g.SetLimit(j.Limit)
	res := make(chan int, j.Limit)
	go func() {
		for i := range inputs(j.N) {
			if ctx.Err() != nil {
				break
			}
			g.Go(func() error {
				r := j.Task(ctx, i)
				select {
				case res <- r:
				case <-ctx.Done():
				}
				return nil
			})
		}
		g.Wait()
		close(res)
	}()
	for r := range res {
		if !j.Consume(r) {
			cancel()
			break
		}
	}
	for range res {
	}
}

// groupRun consumes each result in its task's ordered section, after Wait
// on the task's entry, or (then) in a function given to Entry.Then.
// window is in multiples of the limit, 0 for the Group's default.
func groupRun(window int, then bool) Runner {
	return func(j Job) {
		parent, stop := context.WithCancel(context.Background())
		defer stop()
		g, ctx := complchain.WithContext(parent)
		g.SetLimit(j.Limit)
		if window > 0 {
			g.SetWindow(window * j.Limit)
		}
		for i := range inputs(j.N) {
			if ctx.Err() != nil {
				break
			}
			g.Go(func(ctx context.Context, e *complchain.Entry) error {
				r := j.Task(ctx, i)
				if then {
					e.Then(func() {
						if ctx.Err() == nil && !j.Consume(r) {
							stop()
						}
					})
					return nil
				}
				if err := e.Wait(ctx); err != nil {
					return err
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if !j.Consume(r) {
					return errStop
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil && !errors.Is(err, errStop) && !errors.Is(err, context.Canceled) {
			panic(fmt.Sprintf("complchain.Group: %v", err))
		}
	}
}

// mapRun ranges over Map, or MapWindow with window × limit.
func mapRun(window int) Runner {
	return func(j Job) {
		f := func(ctx context.Context, i int) (int, error) { return j.Task(ctx, i), nil }
		seq := complchain.Map(context.Background(), inputs(j.N), j.Limit, f)
		if window > 0 {
			seq = complchain.MapWindow(context.Background(), inputs(j.N), j.Limit, window*j.Limit, f)
		}
		for r := range seq {
			if !j.Consume(r) {
				break
			}
		}
	}
}

// concStreamJob gives the tasks a context cancelled when the consumer
// stops, as conc has none of its own.
func concStreamJob(j Job) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stopped atomic.Bool
	s := stream.New().WithMaxGoroutines(j.Limit)
	for i := range inputs(j.N) {
		if stopped.Load() {
			break
		}
		s.Go(func() stream.Callback {
			r := j.Task(ctx, i)
			return func() {
				if !stopped.Load() && !j.Consume(r) {
					stopped.Store(true)
					cancel()
				}
			}
		})
	}
	s.Wait()
}

func rillJob(j Job) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := make(chan rill.Try[int])
	go func() {
		defer close(in)
		for i := range inputs(j.N) {
			select {
			case in <- rill.Try[int]{Value: i}:
			case <-ctx.Done():
				return
			}
		}
	}()
	out := rill.OrderedMap(in, j.Limit, func(i int) (int, error) { return j.Task(ctx, i), nil })
	for r := range out {
		if !j.Consume(r.Value) {
			cancel()
			break
		}
	}
	rill.Drain(out)
}

type ocTask struct {
	j Job
	i int
}

func (t ocTask) Run(ctx context.Context) any { return t.j.Task(ctx, t.i) }

func orderedConcurrentlyJob(j Job) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := make(chan orderedconcurrently.WorkFunction)
	go func() {
		defer close(in)
		for i := range inputs(j.N) {
			select {
			case in <- ocTask{j, i}:
			case <-ctx.Done():
				return
			}
		}
	}()
	out := orderedconcurrently.Process(ctx, in, &orderedconcurrently.Options{PoolSize: j.Limit, OutChannelBuffer: j.Limit})
	for o := range out {
		if !j.Consume(o.Value.(int)) {
			cancel()
			break
		}
	}
	for range out {
	}
}
