package complchain

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// A Wait that started in an entry's previous life, released but not yet
// returned, must neither return early from nor be woken by the next life:
// re-added behind a pending blocker, the entry's new Wait returns only once
// the blocker completes. Every way to re-add is tried: the same chain and
// another, old waiters cancelled or not.
func TestReAddWhileOldWaitersRun(t *testing.T) {
	for _, tt := range []struct {
		name      string
		sameChain bool
		cancelled bool
	}{
		{"SameChain", true, false},
		{"OtherChain", false, false},
		{"SameChainCancelledWaiters", true, true},
		{"OtherChainCancelledWaiters", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 300 {
				var c1, c2 Chain
				var p, e, blocker Entry
				c1.Add(&p)
				c1.Add(&e)
				var old sync.WaitGroup
				ctx, cancel := context.WithCancel(context.Background())
				for range 4 {
					old.Go(func() {
						if err := e.Wait(ctx); err != nil && !tt.cancelled {
							t.Errorf("round %d: old-life Wait = %v", round, err)
						}
					})
				}
				if tt.cancelled {
					cancel()
				}
				runtime.Gosched()
				p.Complete() // releases e's first life
				e.Complete()
				c := &c2
				if tt.sameChain {
					c = &c1
				}
				c.Add(&blocker)
				c.Add(&e) // the new life, pending behind blocker
				var blockerDone atomic.Bool
				newLife := make(chan bool)
				for range 2 {
					go func() {
						err := e.Wait(context.Background())
						newLife <- err == nil && blockerDone.Load()
					}()
				}
				runtime.Gosched()
				blockerDone.Store(true)
				blocker.Complete()
				for range 2 {
					if !<-newLife {
						t.Fatalf("round %d: the new life's Wait returned before its predecessor completed", round)
					}
				}
				e.Complete()
				old.Wait()
				cancel()
			}
		})
	}
}

// Waiters of one life are all woken by its release, however many there
// are and whichever give up early.
func TestManyWaitersOneRelease(t *testing.T) {
	var c Chain
	var p, e Entry
	c.Add(&p)
	c.Add(&e)
	var wg sync.WaitGroup
	var woken atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	for i := range 50 {
		wctx := context.Background()
		if i%3 == 0 {
			wctx = ctx
		}
		wg.Go(func() {
			if e.Wait(wctx) == nil {
				woken.Add(1)
			}
		})
	}
	cancel()
	p.Complete()
	wg.Wait()
	if n := woken.Load(); n < 33 {
		t.Fatalf("%d waiters returned nil, want at least the 33 that were not cancelled", n)
	}
	e.Complete()
}

// An entry completed before its release wakes its own waiters: Wait
// returns nil at once on a completed entry, also for a goroutine that was
// already blocked in it.
func TestCompleteBeforeReleaseWakesWaiters(t *testing.T) {
	var c Chain
	var p, e Entry
	c.Add(&p)
	c.Add(&e)
	blocked := make(chan struct{})
	returned := make(chan error)
	go func() {
		close(blocked)
		returned <- e.Wait(context.Background())
	}()
	<-blocked
	for e.sleepers.Load() == 0 { // until the waiter sleeps
		runtime.Gosched()
	}
	e.Complete() // before p: e's waiters have nothing left to wait for
	if err := <-returned; err != nil {
		t.Fatalf("Wait = %v after the entry completed", err)
	}
	p.Complete()
}

// A goroutine still waiting on a Group task's entry after the task
// returned reads nothing that SetLimit or SetWindow may change once the
// Group's Wait has returned.
func TestGroupStrayWaiterSetLimit(t *testing.T) {
	var g Group
	for i := range 200 {
		g.SetLimit(2 + i%2)
		g.SetWindow(3)
		release := make(chan struct{})
		stray := make(chan *Entry)
		done := make(chan struct{})
		go func() {
			defer close(done)
			e := <-stray
			e.Wait(context.Background())
		}()
		g.Go(func(ctx context.Context, e *Entry) error {
			<-release
			return nil
		})
		g.Go(func(ctx context.Context, e *Entry) error {
			stray <- e
			for e.sleepers.Load() == 0 {
				runtime.Gosched()
			}
			close(release) // the stray waits while the entry is pending
			return nil
		})
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		g.SetLimit(4) // no waiter reads the limit it replaces
		<-done
	}
}
