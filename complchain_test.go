package complchain

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// released reports whether e's Wait would return at once.
func released(e *Entry) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return e.Wait(ctx) == nil
}

func TestFirstEntryReleasedAtOnce(t *testing.T) {
	var c Chain
	var a, b Entry
	c.Add(&a)
	c.Add(&b)
	if !released(&a) || released(&b) {
		t.Fatalf("released(a)=%v released(b)=%v, want true false", released(&a), released(&b))
	}
	if !a.Pending() || !b.Pending() || c.Len() != 2 {
		t.Fatalf("Pending a=%v b=%v Len=%d, want true true 2", a.Pending(), b.Pending(), c.Len())
	}
	a.Complete()
	if !released(&b) || a.Pending() || c.Len() != 1 {
		t.Fatalf("after a.Complete: released(b)=%v a.Pending=%v Len=%d", released(&b), a.Pending(), c.Len())
	}
	b.Complete()
	if c.Len() != 0 {
		t.Fatalf("Len=%d after all completed", c.Len())
	}
}

// An entry completed before its predecessors releases its successor only
// once every predecessor has completed.
func TestCompleteOutOfOrder(t *testing.T) {
	for _, order := range [][]int{{2, 1, 0}, {1, 2, 0}, {2, 0, 1}, {1, 0, 2}} {
		var c Chain
		es := make([]Entry, 4)
		for i := range es {
			c.Add(&es[i])
		}
		done := map[int]bool{}
		for _, i := range order {
			es[i].Complete()
			done[i] = true
			for j := range es {
				if done[j] {
					continue // Wait on a completed entry returns at once
				}
				want := true
				for k := 0; k < j; k++ {
					want = want && done[k]
				}
				if got := released(&es[j]); got != want {
					t.Fatalf("order %v, after completing %v: released(%d)=%v, want %v", order, done, j, got, want)
				}
			}
		}
	}
}

func TestCompleteIsIdempotent(t *testing.T) {
	var c Chain
	var a, b, d Entry
	c.Add(&a)
	c.Add(&b)
	c.Add(&d)
	b.Complete()
	b.Complete()
	if released(&d) {
		t.Fatal("second Complete of b released d before a completed")
	}
	a.Complete()
	if !released(&d) || c.Len() != 1 {
		t.Fatalf("released(d)=%v Len=%d, want true 1", released(&d), c.Len())
	}
}

func TestReAddCompletedEntry(t *testing.T) {
	var c1, c2 Chain
	var a, blocker Entry
	c1.Add(&a)
	a.Complete()
	c2.Add(&blocker)
	c2.Add(&a)
	if released(&a) || !a.Pending() {
		t.Fatal("re-added entry released before its new predecessor completed")
	}
	blocker.Complete()
	if !released(&a) {
		t.Fatal("re-added entry not released after its predecessor completed")
	}
	a.Complete()
	// An entry completed early, before its predecessor, may be re-added too.
	var p, q Entry
	c1.Add(&p)
	c1.Add(&q)
	q.Complete()
	c1.Add(&q)
	if c1.Len() != 2 || released(&q) {
		t.Fatalf("Len=%d released(q)=%v, want 2 false", c1.Len(), released(&q))
	}
	p.Complete()
	q.Complete()
}

func TestMisusePanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
		want string
	}{
		{"AddPending", func() { var c Chain; var e Entry; c.Add(&e); c.Add(&e) }, "complchain: Add of an entry that is still pending"},
		{"AddPendingOtherChain", func() { var c, d Chain; var e Entry; c.Add(&e); d.Add(&e) }, "complchain: Add of an entry that is still pending"},
		{"WaitNeverAdded", func() { var e Entry; e.Wait(context.Background()) }, "complchain: Wait on an entry that was never added to a chain"},
		{"CompleteNeverAdded", func() { var e Entry; e.Complete() }, "complchain: Complete of an entry that was never added to a chain"},
		{"ThenNeverAdded", func() { var e Entry; e.Then(func() {}) }, "complchain: Then on an entry that is not pending"},
		{"ThenCompleted", func() { var c Chain; var e Entry; c.Add(&e); e.Complete(); e.Then(func() {}) }, "complchain: Then on an entry that is not pending"},
		{"ThenTwice", func() {
			var c Chain
			var a, e Entry
			c.Add(&a)
			c.Add(&e)
			e.Then(func() {})
			e.Then(func() {})
		}, "complchain: Then called twice on an entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != tt.want {
					t.Fatalf("panic %v, want %q", r, tt.want)
				}
			}()
			tt.f()
		})
	}
}

// Then on a released entry runs f before it returns and completes the
// entry; on a pending one it returns at once, Complete on it does
// nothing, and f runs in the goroutine that releases it.
func TestThen(t *testing.T) {
	var c Chain
	var a, b, d Entry
	c.Add(&a)
	c.Add(&b)
	c.Add(&d)
	ran := ""
	b.Then(func() { ran += "b" })
	b.Complete() // Then owns b now
	if ran != "" || !b.Pending() || released(&d) {
		t.Fatalf("after Then and Complete on a pending entry: ran %q, pending %v, successor released %v", ran, b.Pending(), released(&d))
	}
	a.Then(func() { ran += "a" })
	if ran != "ab" || a.Pending() || b.Pending() || !released(&d) {
		t.Fatalf("after Then on the released head: ran %q, pending %v %v, successor released %v", ran, a.Pending(), b.Pending(), released(&d))
	}
	d.Complete()
	if c.Len() != 0 {
		t.Fatalf("Len %d after every entry completed", c.Len())
	}
}

// Tasks that finish in random order and hand their critical sections to
// Then get them run in Add order, one at a time, and every entry
// completes; a Flush issued meanwhile returns after all of them.
func TestThenRandomOrder(t *testing.T) {
	const n = 2000
	for round := range 4 {
		var c Chain
		entries := make([]Entry, n)
		for i := range entries {
			c.Add(&entries[i])
		}
		var (
			got     []int
			running atomic.Int32
			wg      sync.WaitGroup
		)
		flushed := make(chan error, 1)
		go func() { flushed <- c.Flush(context.Background()) }()
		for i, p := range rand.New(rand.NewPCG(uint64(round), 0)).Perm(n) {
			wg.Go(func() {
				if i%2 == 0 {
					runtime.Gosched()
				}
				entries[p].Then(func() {
					if running.Add(1) != 1 {
						t.Error("critical sections overlap")
					}
					got = append(got, p)
					running.Add(-1)
				})
			})
		}
		wg.Wait()
		if err := <-flushed; err != nil {
			t.Fatal(err)
		}
		for i, p := range got {
			if p != i {
				t.Fatalf("round %d: critical section %d ran for entry %d", round, i, p)
			}
		}
		if len(got) != n || c.Len() != 0 {
			t.Fatalf("round %d: %d critical sections ran, %d entries pending", round, len(got), c.Len())
		}
	}
}

// A panic in a function given to Then unwinds in the goroutine that ran
// it, and the chain goes on: the entry completes and the functions after
// it run.
func TestThenPanic(t *testing.T) {
	var c Chain
	var a, b, d Entry
	c.Add(&a)
	c.Add(&b)
	c.Add(&d)
	ran := false
	b.Then(func() { panic("boom") })
	d.Then(func() { ran = true })
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want boom", r)
			}
		}()
		a.Complete()
	}()
	if !ran || b.Pending() || d.Pending() || c.Len() != 0 {
		t.Fatalf("after the panic: later function ran %v, pending %v %v, Len %d", ran, b.Pending(), d.Pending(), c.Len())
	}
}

// A Wait cancelled in the middle of the chain returns ctx.Err() while the
// entries around it proceed.
func TestWaitCancelledMidChain(t *testing.T) {
	var c Chain
	es := make([]Entry, 3)
	for i := range es {
		c.Add(&es[i])
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- es[1].Wait(ctx) }()
	lastc := make(chan error)
	go func() { lastc <- es[2].Wait(context.Background()) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Wait = %v, want context.Canceled", err)
	}
	es[1].Complete() // the cancelled task gives up its place
	es[0].Complete()
	if err := <-lastc; err != nil {
		t.Fatalf("Wait of the last entry = %v", err)
	}
	es[2].Complete()
}

// Critical sections run one at a time in Add order, whatever the schedule:
// many goroutines, random work, some tasks completing without waiting.
func TestRandomSchedules(t *testing.T) {
	const entries, workers = 5000, 64
	for round := range 4 {
		rng := rand.New(rand.NewPCG(uint64(round), 7))
		type task struct {
			Entry
			id      int
			spin    int
			skip    bool
			waitErr error
		}
		tasks := make([]*task, entries)
		var c Chain
		for i := range tasks {
			tasks[i] = &task{id: i, spin: rng.IntN(50), skip: rng.IntN(10) == 0}
			c.Add(&tasks[i].Entry)
		}
		var (
			inside int32
			order  []int
			next   atomic.Int64
			wg     sync.WaitGroup
			bad    atomic.Int32
		)
		for range workers {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= entries {
						return
					}
					tk := tasks[i]
					for range tk.spin {
						runtime.Gosched()
					}
					if tk.skip { // the task failed before its critical section
						tk.Complete()
						continue
					}
					if err := tk.Wait(context.Background()); err != nil {
						tk.waitErr = err
						tk.Complete()
						continue
					}
					if !atomic.CompareAndSwapInt32(&inside, 0, 1) {
						bad.Add(1)
					}
					order = append(order, tk.id)
					atomic.StoreInt32(&inside, 0)
					tk.Complete()
				}
			})
		}
		wg.Wait()
		if bad.Load() != 0 {
			t.Fatalf("round %d: %d critical sections overlapped", round, bad.Load())
		}
		want := 0
		for _, tk := range tasks {
			if tk.waitErr != nil {
				t.Fatalf("round %d: Wait(%d) = %v", round, tk.id, tk.waitErr)
			}
			if !tk.skip {
				want++
			}
		}
		if len(order) != want {
			t.Fatalf("round %d: %d critical sections ran, want %d", round, len(order), want)
		}
		for i := 1; i < len(order); i++ {
			if order[i] <= order[i-1] {
				t.Fatalf("round %d: critical section of %d ran after %d", round, order[i], order[i-1])
			}
		}
		if c.Len() != 0 {
			t.Fatalf("round %d: Len = %d after all tasks", round, c.Len())
		}
	}
}

// Flush returns only after every entry added before it completed, while
// other goroutines keep adding entries.
func TestFlushRacingAdd(t *testing.T) {
	for round := range 20 {
		var c Chain
		const before = 100
		es := make([]Entry, before)
		for i := range es {
			c.Add(&es[i])
		}
		var completed atomic.Int32
		flushed := make(chan int32)
		go func() {
			if err := c.Flush(context.Background()); err != nil {
				t.Error(err)
			}
			flushed <- completed.Load()
		}()
		stop := make(chan struct{})
		var adders sync.WaitGroup
		for range 4 {
			adders.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					var e Entry
					c.Add(&e)
					e.Complete()
				}
			})
		}
		for _, i := range rand.Perm(before) {
			completed.Add(1)
			es[i].Complete()
		}
		if got := <-flushed; got != before {
			t.Fatalf("round %d: Flush returned after %d of %d earlier entries completed", round, got, before)
		}
		close(stop)
		adders.Wait()
	}
}

func TestFlush(t *testing.T) {
	var c Chain
	if err := c.Flush(context.Background()); err != nil {
		t.Fatalf("Flush of an empty chain = %v", err)
	}
	var a Entry
	c.Add(&a)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Flush = %v, want context.Canceled", err)
	}
	if c.Len() != 1 {
		t.Fatalf("a cancelled Flush left %d entries, want 1", c.Len())
	}
	a.Complete()
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNoAllocations(t *testing.T) {
	type task struct {
		Entry // embedded in the task, as users do
	}
	var c Chain
	var a, b task
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		c.Add(&a.Entry)
		c.Add(&b.Entry)
		if err := a.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		a.Complete()
		if err := b.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		b.Complete()
	})
	if allocs != 0 {
		t.Fatalf("Add/Wait/Complete allocate %v times, want 0", allocs)
	}
}

func BenchmarkChainAddWaitComplete(b *testing.B) {
	var c Chain
	var e Entry
	ctx := context.Background()
	for b.Loop() {
		c.Add(&e)
		if err := e.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		e.Complete()
	}
}

// BenchmarkChainHandoff measures one task handing the chain to the next
// across goroutines: the blocking path.
func BenchmarkChainHandoff(b *testing.B) {
	var c Chain
	ctx := context.Background()
	es := make([]Entry, b.N)
	for i := range es {
		c.Add(&es[i])
	}
	b.ResetTimer()
	done := make(chan struct{})
	go func() {
		for i := 1; i < len(es); i += 2 {
			es[i].Wait(ctx)
			es[i].Complete()
		}
		close(done)
	}()
	for i := 0; i < len(es); i += 2 {
		es[i].Wait(ctx)
		es[i].Complete()
	}
	<-done
}
