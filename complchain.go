// Package complchain runs slow work concurrently yet lets each task enter a
// critical section in the order the tasks were started: a completion chain.
//
// It is the Go form of the Linux kernel's completion chain (compl_chain),
// made for the NVMe asynchronous namespace scan and the SCSI asynchronous
// host scan: discovery runs in parallel, registration happens in a
// deterministic order. A Chain is related to sync.WaitGroup and
// x/sync/errgroup, but orders the critical sections of its tasks.
//
// The typical use: add an Entry for each task in the order results must be
// registered, start the tasks, and in each task do the slow part, then Wait,
// register, and Complete:
//
//	chain.Add(&t.Entry)
//	go func() {
//		defer t.Complete() // a task that fails early never stalls the chain
//		t.discover()
//		if err := t.Wait(ctx); err != nil {
//			return
//		}
//		t.register() // runs in Add order, one task at a time
//	}()
//
// Group and Map build on the chain for the common cases.
package complchain

import (
	"context"
	"sync"
	"sync/atomic"
)

// A Chain is a FIFO of entries. An entry is released, and Wait on it
// returns, once every entry added to the chain before it has completed. So
// the code that tasks run between Wait and Complete runs one task at a
// time, in Add order.
//
// The zero Chain is empty and ready to use. A Chain must not be copied
// after first use.
type Chain struct {
	mu         sync.Mutex
	head, tail *Entry // pending entries, in Add order
	n          int
}

// An Entry is one task's place in a Chain. Embed it in the task's own
// struct: adding, waiting on and completing an embedded Entry allocates
// nothing unless Wait has to block.
//
// The zero Entry is ready to be added. An Entry that has completed may be
// added again, to the same chain or another one.
type Entry struct {
	chain      *Chain // set by Add; kept after completion
	prev, next *Entry
	state      atomic.Uint32 // entryIdle, entryPending, entryReleased, entryDone
	// Blocked waiters are woken by a token passed through wake: the
	// release sends one if any goroutine waits, and each woken waiter
	// passes it on while others still wait. wake is made the first time
	// Wait blocks and reused for the entry's life, so re-added entries
	// allocate nothing.
	wake    chan struct{}
	waiters int // goroutines blocked in Wait, guarded by chain.mu
	// then is the function given to Then, kept until e is released;
	// deferred is set from Then until e completes, during which Complete
	// does nothing. Both are guarded by chain.mu.
	then     func()
	deferred bool
}

const (
	entryIdle     = iota // never added
	entryPending         // added, a predecessor has not completed
	entryReleased        // added, every predecessor has completed
	entryDone            // Complete was called
)

// Add appends e to the tail of the chain. If the chain has no pending
// entry, e is released at once, as there is nothing to wait for.
//
// Add panics if e is pending in any chain.
func (c *Chain) Add(e *Entry) {
	if s := e.state.Load(); s == entryPending || s == entryReleased {
		panic("complchain: Add of an entry that is still pending")
	}
	c.mu.Lock()
	e.chain = c
	e.next = nil
	e.prev = c.tail
	if c.tail == nil {
		c.head = e
		e.state.Store(entryReleased)
	} else {
		c.tail.next = e
		e.state.Store(entryPending)
	}
	c.tail = e
	c.n++
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

// Wait blocks until every entry added to the chain before e has completed,
// or ctx is done, in which case it returns ctx.Err(). Wait returns nil at
// once if e has already completed. Any number of goroutines may wait on one
// entry.
//
// The completion of each entry added before e happens before Wait returns
// nil.
//
// Wait panics if e was never added to a chain.
func (e *Entry) Wait(ctx context.Context) error {
	switch e.state.Load() {
	case entryReleased, entryDone:
		return nil
	case entryIdle:
		panic("complchain: Wait on an entry that was never added to a chain")
	}
	c := e.chain
	c.mu.Lock()
	if e.state.Load() != entryPending {
		c.mu.Unlock()
		return nil
	}
	if e.wake == nil {
		e.wake = make(chan struct{}, 1)
	}
	e.waiters++
	c.mu.Unlock()
	select {
	case <-e.wake:
	case <-ctx.Done():
		c.mu.Lock()
		if e.state.Load() == entryPending {
			e.waiters--
			c.mu.Unlock()
			return ctx.Err()
		}
		// Released as ctx was done: the token is on its way to this
		// waiter or another; take it so it can be passed on.
		c.mu.Unlock()
		<-e.wake
	}
	c.mu.Lock()
	e.waiters--
	if e.waiters > 0 {
		e.wake <- struct{}{}
	}
	c.mu.Unlock()
	return nil
}

// Complete marks e as completed and removes it from its chain. It never
// blocks: if an entry added before e is still pending, e's successor is
// released only once every such entry has completed too. Calling Complete
// on an entry that has already completed, or that was given to Then,
// does nothing.
//
// If completing e releases entries given to Then, Complete runs their
// functions, one after another in Add order, before it returns.
//
// Complete panics if e was never added to a chain.
func (e *Entry) Complete() {
	switch e.state.Load() {
	case entryDone:
		return
	case entryIdle:
		panic("complchain: Complete of an entry that was never added to a chain")
	}
	c := e.chain
	c.mu.Lock()
	if e.state.Load() == entryDone || e.deferred { // lost a race with another Complete, or Then owns e
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
// nothing.
//
// Then panics if e is not pending in a chain, or was already given to
// Then.
func (e *Entry) Then(f func()) {
	if s := e.state.Load(); s != entryPending && s != entryReleased {
		panic("complchain: Then on an entry that is not pending")
	}
	c := e.chain
	c.mu.Lock()
	if e.deferred {
		c.mu.Unlock()
		panic("complchain: Then called twice on an entry")
	}
	e.deferred = true
	if e.state.Load() == entryPending {
		e.then = f
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.run(e, f)
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
	defer func() {
		c.mu.Lock()
		e.deferred = false
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
// for the caller to run.
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
	e.state.Store(entryDone)
	var f func()
	if wasHead && next != nil {
		next.state.Store(entryReleased)
		if next.waiters > 0 {
			next.wake <- struct{}{}
		}
		f, next.then = next.then, nil
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
	s := e.state.Load()
	return s == entryPending || s == entryReleased
}
