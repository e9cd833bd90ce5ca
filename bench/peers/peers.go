// Package peers runs workloads whose results must be delivered in
// submission order — tiny tasks (Impls), and heavy-tail, slow-consumer,
// early-stop and CPU-bound jobs (Workloads, Runners) — on complchain and
// on the Go libraries people use for it, so that they can be compared
// side by side.
package peers

import (
	"context"
	"runtime"

	"github.com/destel/rill"
	"github.com/sourcegraph/conc/stream"
	orderedconcurrently "github.com/tejzpr/ordered-concurrently/v3"
	"golang.org/x/sync/errgroup"

	"github.com/complchain/complchain"
)

// work is the tiny task: a few arithmetic operations.
func work(i int) int { return i*2 + 1 }

// An Impl runs n tasks with the given concurrency and returns their
// results in submission order.
type Impl struct {
	Name string
	Run  func(n, limit int) []int
}

// Impls lists the implementations compared.
var Impls = []Impl{
	{"complchain.Group", complchainGroup},
	{"complchain.Map", complchainMap},
	{"errgroup+slice+chan", errgroupChan},
	{"conc/stream", concStream},
	{"rill.OrderedMap", rillOrderedMap},
	{"ordered-concurrently", orderedConcurrently},
}

// complchainGroup delivers each result in its task's ordered section.
func complchainGroup(n, limit int) []int {
	out := make([]int, 0, n)
	var g complchain.Group
	g.SetLimit(limit)
	for i := range n {
		g.Go(func(ctx context.Context, e *complchain.Entry) error {
			r := work(i)
			if err := e.Wait(ctx); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	}
	g.Wait()
	return out
}

func complchainMap(n, limit int) []int {
	out := make([]int, 0, n)
	in := func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				return
			}
		}
	}
	for r := range complchain.Map(context.Background(), in, limit, func(_ context.Context, i int) (int, error) { return work(i), nil }) {
		out = append(out, r)
	}
	return out
}

// errgroupChan is the hand-made pattern: errgroup with a limit, a results
// slice, and a channel per task signalling its result is ready, read in
// order by the consumer.
func errgroupChan(n, limit int) []int {
	results := make([]int, n)
	ready := make([]chan struct{}, n)
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	var g errgroup.Group
	g.SetLimit(limit)
	done := make(chan []int)
	go func() {
		out := make([]int, 0, n)
		for i := range n {
			<-ready[i]
			out = append(out, results[i])
		}
		done <- out
	}()
	for i := range n {
		g.Go(func() error {
			results[i] = work(i)
			close(ready[i])
			return nil
		})
	}
	g.Wait()
	return <-done
}

func concStream(n, limit int) []int {
	out := make([]int, 0, n)
	s := stream.New().WithMaxGoroutines(limit)
	for i := range n {
		s.Go(func() stream.Callback {
			r := work(i)
			return func() { out = append(out, r) }
		})
	}
	s.Wait()
	return out
}

func rillOrderedMap(n, limit int) []int {
	in := make(chan rill.Try[int])
	go func() {
		for i := range n {
			in <- rill.Try[int]{Value: i}
		}
		close(in)
	}()
	out, _ := rill.ToSlice(rill.OrderedMap(in, limit, func(i int) (int, error) { return work(i), nil }))
	return out
}

type ocWork int

func (w ocWork) Run(context.Context) any { return work(int(w)) }

func orderedConcurrently(n, limit int) []int {
	in := make(chan orderedconcurrently.WorkFunction)
	go func() {
		for i := range n {
			in <- ocWork(i)
		}
		close(in)
	}()
	out := make([]int, 0, n)
	for o := range orderedconcurrently.Process(context.Background(), in, &orderedconcurrently.Options{PoolSize: limit, OutChannelBuffer: limit}) {
		out = append(out, o.Value.(int))
	}
	return out
}

// Limit is the concurrency every implementation gets: GOMAXPROCS.
func Limit() int { return runtime.GOMAXPROCS(0) }
