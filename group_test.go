package complchain

import (
	"context"
	"errors"
	"iter"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// Sections after Wait run in Go order, with any limit.
func TestGroupOrder(t *testing.T) {
	for _, limit := range []int{-1, 1, 4, 64} {
		var g Group
		g.SetLimit(limit)
		var order []int
		for i := range 2000 {
			spin := rand.IntN(20)
			g.Go(func(ctx context.Context, e *Entry) error {
				for range spin {
					runtime.Gosched()
				}
				if err := e.Wait(ctx); err != nil {
					return err
				}
				order = append(order, i)
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		if len(order) != 2000 || !slices.IsSorted(order) {
			t.Fatalf("limit %d: %d sections, sorted %v", limit, len(order), slices.IsSorted(order))
		}
	}
}

// A task that fails early completes its entry: the tasks after it still
// run their sections; the first error cancels the context and is returned.
func TestGroupErrorDoesNotStall(t *testing.T) {
	g, ctx := WithContext(context.Background())
	boom := errors.New("boom")
	var ran atomic.Int32
	for i := range 10 {
		g.Go(func(ctx context.Context, e *Entry) error {
			if i == 3 {
				return boom // before its critical section
			}
			if i > 3 {
				<-ctx.Done() // cancelled by the error
			}
			e.Wait(context.Background())
			ran.Add(1)
			return nil
		})
	}
	if err := g.Wait(); !errors.Is(err, boom) {
		t.Fatalf("Wait = %v, want boom", err)
	}
	if ran.Load() != 9 {
		t.Fatalf("%d sections ran, want 9", ran.Load())
	}
	if !errors.Is(context.Cause(ctx), boom) {
		t.Fatalf("context cause %v, want boom", context.Cause(ctx))
	}
}

func TestGroupPanic(t *testing.T) {
	var g Group
	g.Go(func(context.Context, *Entry) error { panic("kaboom") })
	g.Go(func(ctx context.Context, e *Entry) error { return e.Wait(ctx) })
	defer func() {
		p, ok := recover().(*PanicError)
		if !ok || p.Value != "kaboom" || len(p.Stack) == 0 {
			t.Fatalf("recovered %v, want a PanicError with kaboom", p)
		}
	}()
	g.Wait()
	t.Fatal("Wait did not panic")
}

// TryGo queues tasks without blocking while the run queue has room, and
// refuses once it is full.
func TestGroupTryGo(t *testing.T) {
	var g Group
	g.SetLimit(1)
	started, release := make(chan struct{}), make(chan struct{})
	if !g.TryGo(func(context.Context, *Entry) error { close(started); <-release; return nil }) {
		t.Fatal("TryGo refused the first task")
	}
	<-started // the only worker is busy
	accepted := 0
	for g.TryGo(func(context.Context, *Entry) error { return nil }) {
		accepted++
	}
	if accepted != 64 {
		t.Fatalf("TryGo accepted %d tasks behind a busy worker, want the queue's 64", accepted)
	}
	close(release)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// With a limit of n, at most n tasks run at once.
func TestGroupLimit(t *testing.T) {
	var g Group
	g.SetLimit(3)
	var running, most atomic.Int32
	for range 500 {
		g.Go(func(context.Context, *Entry) error {
			n := running.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			runtime.Gosched()
			running.Add(-1)
			return nil
		})
	}
	g.Wait()
	if m := most.Load(); m > 3 || m < 1 {
		t.Fatalf("%d tasks ran at once with a limit of 3", m)
	}
}

func TestMapOrder(t *testing.T) {
	for _, limit := range []int{0, 1, 3, 16} {
		var got []int
		for r, err := range Map(context.Background(), seq(1000), limit, func(_ context.Context, v int) (int, error) {
			for range rand.IntN(10) {
				runtime.Gosched()
			}
			return v * 2, nil
		}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		}
		if len(got) != 1000 {
			t.Fatalf("limit %d: %d results", limit, len(got))
		}
		for i, r := range got {
			if r != 2*i {
				t.Fatalf("limit %d: result %d = %d, want %d", limit, i, r, 2*i)
			}
		}
	}
}

func seq(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				return
			}
		}
	}
}

// A consumer that breaks out stops reading the input and leaves no
// goroutine behind (TestMain checks for leaks); the input is read at most
// 2 × limit chunks ahead.
func TestMapBackPressureAndBreak(t *testing.T) {
	var read atomic.Int64
	in := func(yield func(int) bool) {
		for i := 0; ; i++ {
			read.Add(1)
			if !yield(i) {
				return
			}
		}
	}
	const limit = 4
	n := 0
	for r, err := range Map(context.Background(), in, limit, func(_ context.Context, v int) (int, error) { return v, nil }) {
		if err != nil || r != n {
			t.Fatalf("result %d = %d, %v", n, r, err)
		}
		n++
		if got := read.Load(); got > int64(n+2*limit*maxChunk+1) {
			t.Fatalf("read %d values with %d consumed", got, n)
		}
		if n == 100 {
			break
		}
	}
}

func TestMapErrorsAndCancel(t *testing.T) {
	bad := errors.New("odd")
	i := 0
	for r, err := range Map(context.Background(), seq(10), 3, func(_ context.Context, v int) (int, error) {
		if v%2 == 1 {
			return 0, bad
		}
		return v, nil
	}) {
		if (i%2 == 1) != errors.Is(err, bad) || (err == nil && r != i) {
			t.Fatalf("result %d: %d, %v", i, r, err)
		}
		i++
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var last error
	count := 0
	for _, err := range Map(ctx, seq(1<<20), 2, func(ctx context.Context, v int) (int, error) { return v, nil }) {
		count++
		if count == 10 {
			cancel()
		}
		last = err
	}
	if !errors.Is(last, context.Canceled) || count >= 1<<20 {
		t.Fatalf("after cancel: %d results, last error %v", count, last)
	}
}

func TestGroupAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	var g Group
	g.SetLimit(8)
	task := func(ctx context.Context, e *Entry) error { return e.Wait(ctx) }
	allocs := testing.AllocsPerRun(100, func() {
		for range 100 {
			g.Go(task)
		}
		g.Wait()
	})
	if per := allocs / 100; per > 0.1 {
		t.Fatalf("%.2f allocations per task, want none but the workers' start", per)
	}
}

func BenchmarkGroup1000Tiny(b *testing.B) {
	results := make([]int, 1000)
	for b.Loop() {
		var g Group
		g.SetLimit(runtime.GOMAXPROCS(0))
		var out []int
		for i := range 1000 {
			g.Go(func(ctx context.Context, e *Entry) error {
				results[i] = i * 2
				e.Wait(ctx)
				out = append(out, results[i])
				return nil
			})
		}
		g.Wait()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/task")
}

func BenchmarkMap1000Tiny(b *testing.B) {
	for b.Loop() {
		n := 0
		for r := range Map(context.Background(), seq(1000), runtime.GOMAXPROCS(0), func(_ context.Context, v int) (int, error) { return v * 2, nil }) {
			n += r
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/task")
}

// Many goroutines calling Go at once, with a small limit, never deadlock:
// the run queue holds tasks in chain order.
func TestGroupConcurrentGo(t *testing.T) {
	var g Group
	g.SetLimit(2)
	var producers sync.WaitGroup
	var sections atomic.Int32
	for range 8 {
		producers.Go(func() {
			for range 200 {
				g.Go(func(ctx context.Context, e *Entry) error {
					runtime.Gosched()
					if err := e.Wait(ctx); err != nil {
						return err
					}
					sections.Add(1)
					return nil
				})
			}
		})
	}
	producers.Wait()
	if err := g.Wait(); err != nil || sections.Load() != 1600 {
		t.Fatalf("%d sections, %v", sections.Load(), err)
	}
}
