package complchain

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// A Chain is a FIFO of entries. An entry is released, and Wait on it
// returns, once every entry added to the chain before it has completed. So
// the code that tasks run between Wait and Complete runs one task at a
// time, in Add order.
//
// The zero Chain is empty and ready to use. A Chain must not be copied
// after first use. All its methods may be called from any goroutine.
type Chain struct {
	mu         sync.Mutex
	head, tail *Entry // pending entries, in Add order
	n          int
}

// An Entry is one task's place in a Chain. Embed it in the task's own
// struct: adding, waiting on and completing an embedded Entry allocates
// nothing, except the first time a Wait on it blocks (a condition
// variable, kept for every later life) and, while it blocks, a context
// watch if its context can be cancelled.
//
// # Lifecycle
//
// An Entry goes through lives. Each life begins with Add and ends with the
// completion of the entry; in between the entry is pending, first waiting
// for its predecessors and then, once every entry added before it has
// completed, released:
//
//	           Add               last predecessor completes
//	idle/done ─────▶ pending ──────────────────────────────▶ released
//	    ▲               │                                       │
//	    └───────────────┴── Complete (or the Then function returns)
//
// In each state:
//
//   - Idle (the zero Entry, never added): Add starts the first life. Wait
//     and Complete panic, as does Then.
//   - Pending or released: Wait may be called from any number of
//     goroutines, at any time; it blocks while the entry is pending.
//     Complete may be called from any goroutine, any number of times, also
//     concurrently: the first call ends the life, the others do nothing,
//     provided each is called before the entry is added again.
//     Then may be called once, by the goroutine that owns the entry's
//     completion, instead of Complete; after it Complete does nothing and
//     the life ends when the Then function returns. Add panics.
//   - Done (completed): Wait returns nil at once and Complete does nothing.
//     Add starts a new life, in the same chain or another; Then panics.
//
// A call belongs to the life in which it starts. Re-adding an entry is
// safe while calls from its previous life are still under way: a Wait
// that started in an earlier life returns nil (the entry was released, or
// completed, in that life), and a Complete that started
// in an earlier life does nothing; neither ever releases, wakes or
// completes the new life. The function given to Then in a life cannot
// still be running when the next life starts, as the life ends only when
// it returns. Only calls made after the Add belong to the new life:
// in particular, a Complete called after the entry was re-added completes
// the new life, so the goroutine that re-adds an entry must be the one
// that owns its completion.
//
// Unlike a sync.WaitGroup, whose reuse must wait until every Wait has
// returned, an Entry may be re-added as soon as it has completed: each
// life is told apart by a generation number kept with its state.
type Entry struct {
	// word is life<<stateBits | claimBit | thenBit | state: Add starts the
	// next life, and no call that started in an earlier life changes or
	// waits on a later one. chain is the chain of the current life; it is stored, under
	// that chain's lock, before the word of the life that uses it.
	word  atomic.Uint64
	chain atomic.Pointer[Chain]

	// The rest but the waiting fields belong to the current life and are
	// guarded by chain.mu, except then, which thenBit guards.
	prev, next *Entry
	// then is the function given to Then, kept until e is released. Then
	// stores it before it sets thenBit in the word; the release reads it
	// after it sees the bit. So a task hands its section over without
	// taking the chain's lock.
	then func()
	// task is the Group task whose entry this is, told when its Wait
	// blocks; nil for entries outside a Group.
	task *groupTask

	// Waiters sleep on wake, under wmu, while the entry's word is still
	// the pending word of the life they started in, and the release
	// broadcasts if any sleeps. None of this belongs to a life: a waiter
	// tests its own life's word, so it never takes a later life's state
	// for its own, and wake, made the first time a Wait blocks, serves
	// every later life without allocating.
	sleepers atomic.Int32 // goroutines in Wait's blocking path
	wmu      sync.Mutex
	wake     *sync.Cond
}

// States of an entry in its current life, the low stateBits of
// Entry.word. Life 0 in stateDone is the zero, never added Entry.
const (
	stateDone     = 0 // completed, or never added
	statePending  = 1 // added, a predecessor has not completed
	stateReleased = 2 // added, every predecessor has completed
	stateMask     = 3
	// thenBit is set by Then, claimBit by Complete under the chain's lock
	// as it claims the entry: whichever is set first owns the completion.
	thenBit   = 4
	claimBit  = 8
	stateBits = 4
)

// life returns the life of an entry's word.
func life(w uint64) uint64 { return w >> stateBits }

// Add appends e to the tail of the chain, starting a new life of e. If the
// chain has no pending entry, e is released at once, as there is nothing
// to wait for.
//
// Add panics if e is pending in any chain.
func (c *Chain) Add(e *Entry) {
	w := e.word.Load()
	if w&stateMask != stateDone {
		panic("complchain: Add of an entry that is still pending")
	}
	c.mu.Lock()
	if e.chain.Load() != c {
		e.chain.Store(c)
	}
	e.prev, e.next = c.tail, nil
	e.then = nil
	state := uint64(statePending)
	if c.tail == nil {
		c.head = e
		state = stateReleased
	} else {
		c.tail.next = e
	}
	c.tail = e
	c.n++
	e.word.Store((life(w)+1)<<stateBits | state)
	c.mu.Unlock()
}

// Len returns the number of entries added to the chain that have not yet
// completed.
func (c *Chain) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Flush waits until every entry added to the chain before the call has
// completed, like the kernel's compl_chain_flush: it adds an entry of its
// own, waits for it and completes it. Entries added after Flush was called
// do not delay it. Flush returns ctx.Err() if ctx is done first.
func (c *Chain) Flush(ctx context.Context) error {
	c.mu.Lock()
	empty := c.n == 0
	c.mu.Unlock()
	if empty {
		return nil
	}
	var e Entry
	c.Add(&e)
	defer e.Complete()
	return e.Wait(ctx)
}

// lock locks the chain of e's current life and returns it with e's word,
// read under the lock. A caller that loaded the word w before compares
// lives: if cur's differs from w's, the life w belongs to has ended, and
// the lock held may be a later life's.
func (e *Entry) lock() (c *Chain, cur uint64) {
	c = e.chain.Load()
	c.mu.Lock()
	return c, e.word.Load()
}

// Wait blocks until every entry added to the chain before e has completed,
// or e itself has completed, or ctx is done, in which case it returns
// ctx.Err(). Wait returns nil at once if e has already been released or
// completed. An entry completed before its release (a task that failed
// early) lets its waiters return although a predecessor may still be
// pending: only the goroutine that owns e's completion should enter a
// critical section after Wait. Any number of
// goroutines may wait on one entry. A Wait that started in an earlier life
// of e returns as that life would have it, whatever later lives do.
//
// If e was released, the completion of each entry added before e happens
// before Wait returns nil.
//
// Wait panics if e was never added to a chain.
func (e *Entry) Wait(ctx context.Context) error {
	w := e.word.Load()
	switch w & stateMask {
	case stateReleased:
		return nil
	case stateDone:
		if w == 0 {
			panic("complchain: Wait on an entry that was never added to a chain")
		}
		return nil
	}
	return e.block(ctx, w)
}

// block waits, for Wait, until e's word is no longer w, the pending word
// of the caller's life, or ctx is done.
func (e *Entry) block(ctx context.Context, w uint64) error {
	e.sleepers.Add(1) // before the check: a release after it sees us
	defer e.sleepers.Add(-1)
	// Then or Complete may set their bit meanwhile: that changes nothing
	// for waiters.
	const bits = thenBit | claimBit
	w &^= bits
	pending := func() bool { return e.word.Load()&^bits == w }
	if !pending() {
		return nil // released, or completed, since the first load
	}
	// From here until sleepers drops, e is not reused by its Group, and
	// the fields of its task set before e was added are this life's.
	// A Group task counts as parked only where another can start in its
	// place.
	if t := e.task; t != nil && t.parkable {
		// A Group task's predecessor is often about to complete: yield a
		// few times before the Group starts another task in its place.
		for range 3 {
			runtime.Gosched()
			if !pending() {
				return nil
			}
		}
		t.g.park(t)
		defer t.g.unpark(t)
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, e.broadcast)
		defer stop()
	}
	e.wmu.Lock()
	if e.wake == nil {
		e.wake = sync.NewCond(&e.wmu)
	}
	for pending() && ctx.Err() == nil {
		e.wake.Wait()
	}
	e.wmu.Unlock()
	if !pending() {
		return nil // released: the predecessors completed
	}
	return ctx.Err()
}

// broadcast wakes the goroutines blocked in Wait on e, if any.
func (e *Entry) broadcast() {
	if e.sleepers.Load() == 0 {
		return
	}
	e.wmu.Lock()
	if e.wake != nil {
		e.wake.Broadcast()
	}
	e.wmu.Unlock()
}

// Complete marks e as completed, ending its life, and removes it from its
// chain. It never blocks: if an entry added before e is still pending,
// e's successor is released only once every such entry has completed too.
// Calling Complete on an entry that has already completed, or that was
// given to Then, does nothing.
//
// If completing e releases entries given to Then, Complete runs their
// functions, one after another in Add order, before it returns.
//
// Complete panics if e was never added to a chain.
func (e *Entry) Complete() {
	w := e.word.Load()
	if w&stateMask == stateDone {
		if w == 0 {
			panic("complchain: Complete of an entry that was never added to a chain")
		}
		return
	}
	if w&(thenBit|claimBit) != 0 {
		return // Then owns e, or another Complete claimed it
	}
	c, cur := e.lock()
	// Another Complete won, a later life began, or Then owns e. Under
	// the lock only Then changes the word: claim e against it.
	if life(cur) != life(w) || cur&stateMask == stateDone || cur&(thenBit|claimBit) != 0 ||
		!e.word.CompareAndSwap(cur, cur|claimBit) {
		c.mu.Unlock()
		return
	}
	c.run(c.complete(e))
}

// Then arranges for f to run once every entry added before e has
// completed, and completes e when f returns (or panics). It never blocks:
// if e is released already, f runs in the calling goroutine before Then
// returns; otherwise it runs in the goroutine whose Complete releases e.
// So a task can hand its critical section to the chain and finish,
// instead of waiting for its turn: no goroutine is parked, and the
// critical sections of tasks that finish in order run back to back.
//
// f should be short, as it delays the entries after e and the caller of
// Complete that runs it. The completion of each entry added before e
// happens before f runs. Once Then has been called, Complete on e does
// nothing, and e stays pending until f has returned.
//
// Then panics if e is not pending in a chain, or was already given to
// Then in this life.
func (e *Entry) Then(f func()) {
	w := e.word.Load()
	for {
		if w&stateMask == stateDone || w&claimBit != 0 {
			panic("complchain: Then on an entry that is not pending")
		}
		if w&thenBit != 0 {
			panic("complchain: Then called twice on an entry")
		}
		if e.task != nil {
			e.task.usedThen.Store(true)
		}
		e.then = f
		if e.word.CompareAndSwap(w, w|thenBit) {
			break
		}
		// Released, or completed, meanwhile.
		cur := e.word.Load()
		if life(cur) != life(w) {
			panic("complchain: Then on an entry that is not pending")
		}
		w = cur
	}
	if w&stateMask == statePending {
		return // the release runs f
	}
	e.then = nil
	e.chain.Load().run(e, f)
}

// run runs f, the function given to Then for the released entry e, and
// then each function that completing e releases in turn: iteratively, so
// that a long run of finished tasks needs no deep stack.
func (c *Chain) run(e *Entry, f func()) {
	for e != nil {
		e, f = c.call(e, f)
	}
}

// call runs f for the released entry e and completes e, also if f
// panics. It returns the entry that completing e released, if that entry
// was given to Then, and its function.
func (c *Chain) call(e *Entry, f func()) (next *Entry, nextf func()) {
	returned := false
	t := e.task
	defer func() {
		if t != nil {
			t.g.thenRan(t) // before the entry completes: t is not reused
		}
		c.mu.Lock()
		next, nextf = c.complete(e)
		if !returned { // f panicked: let the chain go on while the panic unwinds
			c.run(next, nextf)
		}
	}()
	f()
	returned = true
	return nil, nil // set by the deferred completion
}

// complete completes e, with c.mu held, and unlocks c.mu. If that
// releases an entry given to Then, it returns the entry and its function,
// for the caller to run. Storing e's done state is its last access to
// the fields of e's life: from then on e may be re-added.
func (c *Chain) complete(e *Entry) (*Entry, func()) {
	wasHead := e.prev == nil
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	next := e.next
	e.prev, e.next = nil, nil
	c.n--
	w := e.word.Load()
	e.word.Store(life(w)<<stateBits | stateDone)
	if w&stateMask == statePending {
		// Completed before its release: its own waiters return now.
		// The waiting fields belong to no life, so a re-add racing
		// with this costs a spurious wake-up at most.
		e.broadcast()
	}
	var f func()
	if wasHead && next != nil {
		// Then may set thenBit at once: the one that sees the other's
		// change runs f.
		nw := next.word.Load()
		for !next.word.CompareAndSwap(nw, nw&^stateMask|stateReleased) {
			nw = next.word.Load()
		}
		next.broadcast()
		if nw&thenBit != 0 {
			f, next.then = next.then, nil
		}
	}
	c.mu.Unlock()
	if f == nil {
		return nil, nil
	}
	return next, f
}

// Pending reports whether e has been added to a chain and has not yet
// completed.
func (e *Entry) Pending() bool {
	return e.word.Load()&stateMask != stateDone
}
