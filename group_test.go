package complchain

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
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
	gone := make(chan struct{}) // every task was given to Go: none is dropped
	for i := range 10 {
		g.Go(func(ctx context.Context, e *Entry) error {
			if i == 3 {
				<-gone
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
	close(gone)
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

// A task's panic is not recovered, as in errgroup: it ends the program
// from the task's goroutine, with the task's stack. The test runs itself
// in a child process to watch it crash.
func TestGroupPanicCrashes(t *testing.T) {
	if os.Getenv("COMPLCHAIN_PANIC_CHILD") == "1" {
		var g Group
		g.SetLimit(2)
		g.Go(func(context.Context, *Entry) error { panicInTask(); return nil })
		g.Wait()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupPanicCrashes$")
	cmd.Env = append(os.Environ(), "COMPLCHAIN_PANIC_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the child survived a task's panic:\n%s", out)
	}
	for _, want := range []string{"panic: kaboom", "panicInTask"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("the crash does not show %q:\n%s", want, out)
		}
	}
}

func panicInTask() { panic("kaboom") }

// TryGo starts f only if it can run at once, as errgroup's does: with a
// limit of 1 and one task running, it refuses, even though Go would queue.
func TestGroupTryGo(t *testing.T) {
	var g Group
	g.SetLimit(1)
	started, release := make(chan struct{}), make(chan struct{})
	if !g.TryGo(func(context.Context, *Entry) error { close(started); <-release; return nil }) {
		t.Fatal("TryGo refused the first task")
	}
	<-started
	if g.TryGo(func(context.Context, *Entry) error { return nil }) {
		t.Fatal("TryGo accepted a task while the limit was reached")
	}
	g.Go(func(context.Context, *Entry) error { return nil }) // queued
	close(release)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if !g.TryGo(func(context.Context, *Entry) error { return nil }) {
		t.Fatal("TryGo refused a task once the group was idle")
	}
	g.Wait()
}

// SetLimit may be called again once the tasks have returned, as
// errgroup allows, also before Wait; while one is active it panics with a
// count of active tasks.
func TestGroupSetLimitAgain(t *testing.T) {
	var g Group
	g.SetLimit(10)
	done := make(chan struct{})
	g.Go(func(context.Context, *Entry) error { close(done); return nil })
	<-done
	g.Wait()
	g.SetLimit(5) // must not panic
	release := make(chan struct{})
	g.Go(func(context.Context, *Entry) error { <-release; return nil })
	func() {
		defer func() {
			if r := fmt.Sprint(recover()); r != "complchain: modify limit while 1 tasks in the group are still active" {
				t.Errorf("SetLimit with a task active: panic %q", r)
			}
		}()
		g.SetLimit(3)
	}()
	close(release)
	g.Wait()
	for _, n := range []int{math.MaxInt, math.MaxInt / 3, 200_000} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var g Group
		g.SetLimit(n)
		g.SetLimit(n) // no tasks: allowed
		for i := range 3 {
			g.Go(func(ctx context.Context, e *Entry) error { _ = i; return e.Wait(ctx) })
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Fatalf("SetLimit(%d) and 3 tasks allocated %d bytes, want memory that follows the tasks", n, grew)
		}
	}
}

// A task that gives its entry to Then and returns while its predecessor
// still runs leaves the entry pending: the Group must not reuse it for
// the next Go. Then functions run in Go order.
func TestGroupThenReuse(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for round := range 50 {
		var g Group
		g.SetLimit(4)
		release := make(chan struct{})
		var order []int
		g.Go(func(context.Context, *Entry) error { <-release; order = append(order, 0); return nil })
		for i := 1; i < 20; i++ {
			g.Go(func(_ context.Context, e *Entry) error {
				e.Then(func() { order = append(order, i) })
				return nil
			})
		}
		close(release)
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		if len(order) != 20 || !slices.IsSorted(order) {
			t.Fatalf("round %d: sections ran in order %v", round, order)
		}
	}
}

// A slow task does not stall the Group: while it runs, the tasks after it
// park in Wait for their turn and others start in their place, up to the
// window, and no further.
func TestGroupParkedTasksDoNotStall(t *testing.T) {
	const limit, window, n = 2, 5, 40
	var g Group
	g.SetLimit(limit)
	g.SetWindow(window)
	release := make(chan struct{})
	startedCh := make(chan int, n)
	var active, most atomic.Int32
	var order []int
	for i := range n {
		g.Go(func(ctx context.Context, e *Entry) error {
			a := active.Add(1)
			defer active.Add(-1)
			for m := most.Load(); a > m && !most.CompareAndSwap(m, a); m = most.Load() {
			}
			startedCh <- i
			if i == 0 {
				<-release
			}
			if err := e.Wait(ctx); err != nil {
				return err
			}
			order = append(order, i)
			return nil
		})
	}
	// Task 0 blocks: window tasks start (task 0 and the ones that park
	// behind it), however many are queued.
	for range window {
		<-startedCh
	}
	if g.TryGo(func(context.Context, *Entry) error { return nil }) {
		t.Fatal("TryGo started a task with the window full")
	}
	close(release)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(order) != n || !slices.IsSorted(order) {
		t.Fatalf("sections ran in order %v", order)
	}
	if m := most.Load(); m > window {
		t.Fatalf("%d tasks active at once, want at most the window, %d", m, window)
	}
}

// Once the context of a Group made by WithContext is done, queued tasks
// are dropped, not run, and their entries completed.
func TestGroupDropsQueuedAfterCancel(t *testing.T) {
	g, _ := WithContext(context.Background())
	g.SetLimit(1)
	boom := errors.New("boom")
	release := make(chan struct{})
	var ran atomic.Int32
	g.Go(func(context.Context, *Entry) error { <-release; return boom })
	for range 30 {
		g.Go(func(context.Context, *Entry) error { ran.Add(1); return nil })
	}
	close(release)
	if err := g.Wait(); !errors.Is(err, boom) {
		t.Fatalf("Wait = %v, want boom", err)
	}
	if n := ran.Load(); n != 0 {
		t.Fatalf("%d queued tasks ran after the context was cancelled, want 0", n)
	}
	g.Go(func(context.Context, *Entry) error { ran.Add(1); return nil })
	g.Wait()
	if n := ran.Load(); n != 0 {
		t.Fatal("a task started after the context was cancelled ran")
	}
}

// Once the context is done, the rest of a worker's batch of quick tasks
// is dropped as the queue is: with a limit of 1, no task after the
// failing one runs.
func TestGroupDropsBatchAfterCancel(t *testing.T) {
	for _, fail := range []int{0, 1, 500, 1999} {
		g, _ := WithContext(context.Background())
		g.SetLimit(1)
		boom := errors.New("boom")
		var ran atomic.Int32
		for i := range 2000 {
			g.Go(func(context.Context, *Entry) error {
				ran.Add(1)
				if i == fail {
					return boom
				}
				return nil
			})
		}
		if err := g.Wait(); !errors.Is(err, boom) {
			t.Fatalf("fail at %d: Wait = %v, want boom", fail, err)
		}
		if n := ran.Load(); n != int32(fail+1) {
			t.Fatalf("fail at %d: %d tasks ran, want %d", fail, n, fail+1)
		}
	}
}

// Workers exit when the queue is empty: a Group whose Wait is never
// called leaves no goroutine behind.
func TestGroupNoWorkersWithoutWait(t *testing.T) {
	var g Group
	g.SetLimit(4)
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		g.Go(func(context.Context, *Entry) error { wg.Done(); return nil })
	}
	wg.Wait()
	goleak.VerifyNone(t)
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
// window values ahead of the consumer, whatever the consumer's
// pace.
func TestMapBackPressureAndBreak(t *testing.T) {
	for _, tt := range []struct{ limit, window int }{{1, 0}, {4, 0}, {4, 7}, {3, 200}} {
		budget := max(tt.limit, tt.window)
		var read, calls atomic.Int64
		in := func(yield func(int) bool) {
			for i := 0; ; i++ {
				read.Add(1)
				if !yield(i) {
					return
				}
			}
		}
		n := 0
		for r, err := range MapWindow(context.Background(), in, tt.limit, tt.window, func(_ context.Context, v int) (int, error) {
			calls.Add(1)
			return v, nil
		}) {
			if err != nil || r != n {
				t.Fatalf("%+v: result %d = %d, %v", tt, n, r, err)
			}
			n++
			// One value more than the budget: read, and waiting for room.
			if got := read.Load(); got > int64(n-1+budget+1) {
				t.Fatalf("%+v: read %d values with %d consumed", tt, got, n-1)
			}
			if n%7 == 0 {
				runtime.Gosched() // a slow consumer now and then
			}
			if n == 300 {
				break
			}
		}
		if c := calls.Load(); c > int64(n+budget) {
			t.Fatalf("%+v: %d calls for %d results consumed", tt, c, n)
		}
	}
}

// One slow call does not stall the others: while the first value's call
// is blocked, the calls of the values after it run until the window is
// full, and no further.
func TestMapSlowCallDoesNotStall(t *testing.T) {
	const limit, window = 2, 9
	release := make(chan struct{})
	startedCh := make(chan int, 100)
	var started atomic.Int32
	go func() {
		for range window { // the slow call and every one behind it
			<-startedCh
		}
		close(release)
	}()
	var atRelease int32
	results := 0
	for r, err := range MapWindow(context.Background(), seq(100), limit, window, func(_ context.Context, v int) (int, error) {
		started.Add(1)
		startedCh <- v
		if v == 0 {
			<-release
			atRelease = started.Load()
		}
		return v, nil
	}) {
		if err != nil || r != results {
			t.Fatalf("result %d = %d, %v", results, r, err)
		}
		results++
	}
	if results != 100 {
		t.Fatalf("%d results, want 100", results)
	}
	if atRelease != window {
		t.Fatalf("%d calls had started when the slow first call returned, want the window, %d", atRelease, window)
	}
}

// A limit far beyond the work costs nothing up front: memory follows the
// values in flight, never the limit or the window.
func TestMapHugeLimit(t *testing.T) {
	for _, limit := range []int{math.MaxInt, math.MaxInt / 2, 200_000} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var got []int
		for r, err := range Map(context.Background(), seq(3), limit, func(_ context.Context, v int) (int, error) { return v * 2, nil }) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		}
		runtime.ReadMemStats(&after)
		if !slices.Equal(got, []int{0, 2, 4}) {
			t.Fatalf("limit %d: results %v", limit, got)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Fatalf("limit %d: 3 values allocated %d bytes", limit, grew)
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
		t.Skip("the race detector makes sync.Pool drop tasks at random")
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

// Tasks that hand their section to Then and return wait in the window
// as parked ones do: behind a slow task, at most window tasks start, and
// the Then functions run in Go order.
func TestGroupThenCountsInWindow(t *testing.T) {
	const limit, window, n = 2, 5, 40
	var g Group
	g.SetLimit(limit)
	g.SetWindow(window)
	release := make(chan struct{})
	startedCh := make(chan struct{}, n)
	var started atomic.Int32
	go func() {
		for range window {
			<-startedCh
		}
		close(release)
	}()
	var atRelease int32
	var order []int
	for i := range n {
		g.Go(func(_ context.Context, e *Entry) error {
			started.Add(1)
			startedCh <- struct{}{}
			if i == 0 {
				<-release
				atRelease = started.Load()
			}
			e.Then(func() { order = append(order, i) })
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(order) != n || !slices.IsSorted(order) {
		t.Fatalf("Then functions ran in order %v", order)
	}
	if atRelease != window {
		t.Fatalf("%d tasks had started when the slow first task went on, want the window, %d", atRelease, window)
	}
}

// A task's entry may still be waited on by a goroutine the task started
// when the task returns: the Group must not reuse the task for a later Go
// while that Wait is under way (-race checks the task's fields).
func TestGroupReuseWhileStrayWaiter(t *testing.T) {
	for round := range 100 {
		var g Group
		g.SetLimit(2)
		release := make(chan struct{})
		var strays sync.WaitGroup
		g.Go(func(context.Context, *Entry) error { <-release; return nil })
		g.Go(func(ctx context.Context, e *Entry) error {
			var returned atomic.Bool
			strays.Go(func() {
				if err := e.Wait(context.Background()); err != nil {
					t.Errorf("round %d: stray Wait = %v", round, err)
				}
				returned.Store(true)
			})
			// Until the stray waiter sleeps, or returned: released early.
			for e.sleepers.Load() == 0 && !returned.Load() {
				runtime.Gosched()
			}
			return nil // the entry completes early; the stray wakes
		})
		for range 20 { // reuse tasks from the pool meanwhile
			g.Go(func(ctx context.Context, e *Entry) error { return e.Wait(ctx) })
		}
		close(release)
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		strays.Wait()
	}
}

// An input that waits for the consumer (each value is sent once the
// result before it was yielded) never deadlocks: a chunk the feeder is
// still filling while it waits for the input is taken by the consumer.
func TestMapInputWaitsForResults(t *testing.T) {
	for _, limit := range []int{1, 2, 8} {
		next := make(chan int, 1)
		next <- 0
		in := func(yield func(int) bool) {
			for v := range next {
				if !yield(v) {
					return
				}
			}
		}
		n := 0
		for r, err := range Map(context.Background(), iter.Seq[int](in), limit, func(_ context.Context, v int) (int, error) { return v, nil }) {
			if err != nil || r != n {
				t.Fatalf("limit %d: result %d = %d, %v", limit, n, r, err)
			}
			n++
			if n == 2000 {
				close(next)
				continue
			}
			next <- n
		}
		if n != 2000 {
			t.Fatalf("limit %d: %d results, want 2000", limit, n)
		}
	}
}

// When ctx is done while calls run, the results yielded are a prefix of
// the input's, followed by ctx.Err(): no result is skipped silently.
func TestMapCancelYieldsAPrefix(t *testing.T) {
	for round := range 200 {
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		var last error
		for r, err := range Map(ctx, seq(500), 1+round%4, func(_ context.Context, v int) (int, error) {
			if v == 50+round%30 {
				cancel()
			}
			if v%7 == 0 {
				runtime.Gosched()
			}
			return v, nil
		}) {
			if err != nil {
				last = err
				continue
			}
			if r != n {
				t.Fatalf("round %d: result %d = %d", round, n, r)
			}
			n++
		}
		cancel()
		if n < 500 && !errors.Is(last, context.Canceled) {
			t.Fatalf("round %d: %d results, then %v", round, n, last)
		}
	}
}

// A Group made for each batch of work takes over the tasks of the last
// one that returned from Wait: it allocates nothing for its tasks.
func TestGroupFreshAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop tasks at random")
	}
	task := func(ctx context.Context, e *Entry) error { return e.Wait(ctx) }
	allocs := testing.AllocsPerRun(100, func() {
		g := new(Group)
		g.SetLimit(8)
		for range 100 {
			g.Go(task)
		}
		g.Wait()
	})
	if per := allocs / 100; per > 0.1 {
		t.Fatalf("%.2f allocations per task, want none but the Group and its workers' start", per)
	}
}
