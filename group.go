package complchain

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A Group runs tasks concurrently, like golang.org/x/sync/errgroup, and
// gives each task an Entry of one Chain, added in the order Go was called:
// a task may do its slow work at once, then Wait on its entry to enter a
// section that runs in Go order. A task's entry is completed when the task
// returns, so a task that fails or returns early never stalls the ones
// after it.
//
// A zero Group is valid, has no limit on the number of active tasks, and
// does not cancel on error. A Group must not be copied after first use.
// Go, TryGo and Wait may be called from any goroutine, also from tasks.
// Once Wait has returned, a Group may be used again, with its limit and
// window, except one made by WithContext: its context is cancelled when
// Wait returns, so every later task would be dropped.
//
// # Where a Group differs from errgroup
//
//   - Limit: with SetLimit(n), no task starts while n run, but a task
//     blocked in Wait on its own entry, waiting for its turn, does not
//     count: another task starts in its place, up to a window of tasks
//     under way (SetWindow). Counting them would let one slow task stall
//     the whole Group: every task after it would finish its slow part and
//     park, until no worker is left to run anything. A parked task whose
//     turn comes runs at once, even if n others run, since every task
//     after it waits for its section: so more than n tasks may run for a
//     while, and work done after the section counts as running. (A Wait
//     on the task's entry from another goroutine counts the task as
//     parked too.)
//   - Queue: beyond the n running tasks, Go queues up to max(4n, 64) more
//     without blocking (errgroup blocks at n), so that the caller does not
//     pay a hand-off for each tiny task. TryGo follows errgroup: it starts
//     f only if f can run at once.
//   - Workers: tasks run on goroutines (at most the window) that take
//     queued tasks in Go order, wait idle while any task is active, and
//     exit once none is: no goroutine outlives the Group's work, even if
//     Wait is never called, and tiny tasks cost no goroutine each. Once
//     tasks prove tiny (at most 5 µs), a worker takes several at once, up
//     to 64 lasting about 20 µs and no more than its share of the queue,
//     and runs them one after another: consecutive tasks then do not wait
//     in Wait for each other across workers. A slow task in a batch
//     delays the start of the rest of that batch, whose sections would
//     wait for its section anyway, and nothing else.
//   - Cancellation: once the context of a Group made by WithContext is
//     done, tasks that have not started are dropped: their f is never
//     called and their entry is completed. errgroup starts them anyway,
//     each to find its context cancelled.
//   - SetLimit(0) panics (errgroup accepts it, and every Go then blocks
//     forever). SetLimit, like errgroup's, panics while tasks are active;
//     after they have returned it may be called again.
//   - Panics are not recovered, as in errgroup: a task's panic ends the
//     program in the task's goroutine, with its own stack. (Re-raising it
//     in Wait, as sourcegraph/conc does, delays the crash, turns the stack
//     into a value, and never happens if the panic keeps Wait from being
//     reached — errgroup's reasons.) Map follows the same policy.
type Group struct {
	chain  Chain
	cancel context.CancelCauseFunc
	ctx    context.Context

	mu  sync.Mutex
	err error

	limit     int  // 0: no limit
	window    int  // as given to SetWindow
	windowSet bool // SetWindow was called; else the window is 16 × limit
	underWay  int  // the most tasks under way: the window, at least limit
	// queue holds the tasks not yet started, from qhead, in Go order: it
	// grows with the tasks queued, never with the limit.
	queue   []*groupTask
	qhead   int
	active  int // tasks accepted by Go that have not returned or been dropped
	running int // started tasks not parked in Wait on their entry
	parked  int // started tasks blocked in Wait on their entry
	// deferred counts tasks that returned after giving their entry to
	// Then, whose function has not run yet: like parked tasks, they wait
	// in the window for a predecessor.
	deferred int
	blocked  int // goroutines in Go waiting for room in the queue
	// free holds tasks for reuse, at most as many as may be queued or
	// under way: Go takes them, and workers return them, under g.mu.
	free []*groupTask
	// cache carries free and the queue's array from Wait to the next
	// Group that starts a task (see groupCaches); nil while they are in
	// use.
	cache *groupCache
	// idle workers wait on work while tasks are active; wakeups counts
	// those signalled to take a queued task and not yet awake.
	idle, wakeups int
	// perTask is how long a task took, in ns, averaged over the last
	// batch a worker ran: quick tasks are taken from the queue in
	// batches.
	perTask int64
	work    sync.Cond
	notFull sync.Cond
	// done wakes the callers of Wait, waiting while tasks are active: a
	// count under g.mu, where a sync.WaitGroup would cost two more
	// atomic operations a task.
	done    sync.Cond
	waiting int
}

// WithContext returns a new Group and a context derived from ctx. The
// context is cancelled the first time a task returns a non-nil error, or
// when Wait returns, whichever occurs first. Tasks receive it.
func WithContext(ctx context.Context) (*Group, context.Context) {
	ctx, cancel := context.WithCancelCause(ctx)
	return &Group{ctx: ctx, cancel: cancel}, ctx
}

// SetLimit limits the number of tasks running at once to n; a negative n
// removes the limit. Tasks parked in Wait on their entry do not count
// against the limit but against the window (see SetWindow), and up to
// max(4n, 64) tasks wait in a queue to start, in Go order, before Go
// blocks.
//
// SetLimit panics if called while tasks are active (accepted by Go and
// not yet returned), or with n = 0.
func (g *Group) SetLimit(n int) {
	if n == 0 {
		panic("complchain: SetLimit(0): no task could ever run")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.active != 0 {
		panic(fmt.Errorf("complchain: modify limit while %v tasks in the group are still active", g.active))
	}
	g.limit = max(n, 0)
	g.notFull.L, g.work.L = &g.mu, &g.mu
	g.setUnderWay()
}

// SetWindow sets the reorder window: how many tasks may be under way at
// once, running or waiting for their turn — parked in Wait on their
// entry, or returned after giving their entry to Then and waiting for its
// function to run. At most the limit of them run; the others wait for a
// predecessor, while new tasks start in the place of parked ones. The
// default is 16 × the limit. A larger window keeps the Group busy behind a
// longer stall of one task, at the cost of a parked goroutine (a few KiB)
// for each task waiting in it; a window at most the limit makes a parked
// task count against the limit, as errgroup would. Without a limit the
// window has no effect.
//
// SetWindow panics if called while tasks are active, or with n < 0.
func (g *Group) SetWindow(n int) {
	if n < 0 {
		panic("complchain: SetWindow with a negative window")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.active != 0 {
		panic(fmt.Errorf("complchain: modify window while %v tasks in the group are still active", g.active))
	}
	g.window, g.windowSet = n, true
	g.setUnderWay()
}

// setUnderWay derives underWay from the limit and the window, with g.mu
// held.
func (g *Group) setUnderWay() {
	w := g.window
	if !g.windowSet {
		w = math.MaxInt
		if g.limit <= w/16 {
			w = 16 * g.limit
		}
	}
	g.underWay = max(w, g.limit)
}

// groupTask is a task of a Group. Its fields but f, running and next are
// guarded by g.mu.
type groupTask struct {
	Entry
	g *Group
	f func(context.Context, *Entry) error
	// started is the life of the entry in which a worker started the
	// task: while that life is pending, the task runs or waits in Wait,
	// unless it gave its entry to Then. One store a task, where a flag
	// set and cleared around each run costs two.
	started atomic.Uint64
	parked  bool // counted as parked, not running
	// next links the tasks of a worker's batch, in queue order; it is
	// the worker's alone.
	next *groupTask
	// usedThen is set by Entry.Then on the task's entry: such a task is
	// never reused, as its Then function may run after it returned.
	// thenDone is set once that function has run, inWindow while the
	// task is counted in deferred.
	usedThen atomic.Bool
	thenDone bool
	inWindow bool
	// parkable is set when the task is made, before its entry is added,
	// if a task blocked in Wait on its entry lets another start in its
	// place: the Group has a limit and a window beyond it. A waiter reads
	// it once it has seen the entry pending, so without the Group's lock
	// and whatever SetLimit does after the task returned.
	parkable bool
}

// Go calls f with the Group's context and the task's Entry, added to the
// Group's chain now: f's Wait on it returns once every task started before
// by Go has returned or completed its entry. Without a limit f runs in a
// new goroutine; with one, in one of the Group's workers, in Go order.
// The Entry is the Group's: f, and the goroutines it starts, may use it
// until f returns, or until the function f gave to its Then has run.
//
// The first task to return a non-nil error cancels the Group's context;
// Wait returns that error. Go blocks while the queue set by SetLimit is
// full. If the Group's context is done, f is not called.
func (g *Group) Go(f func(ctx context.Context, e *Entry) error) {
	g.start(f, true)
}

// TryGo calls f as Go does only if f can start at once without exceeding
// the limit, and reports whether it did. Like Go, it drops f without
// calling it if the Group's context is done; it reports true then.
func (g *Group) TryGo(f func(ctx context.Context, e *Entry) error) bool {
	return g.start(f, false)
}

func (g *Group) start(f func(context.Context, *Entry) error, block bool) bool {
	g.mu.Lock()
	if g.limit == 0 {
		if g.cancelled() {
			g.mu.Unlock()
			return true
		}
		t := g.newTask(f)
		g.active++
		g.running++
		g.chain.Add(&t.Entry)
		g.mu.Unlock()
		go g.worker(t)
		return true
	}
	for {
		if g.cancelled() {
			ts := g.drop()
			g.mu.Unlock()
			g.dropped(ts)
			return true
		}
		if g.queued() == 0 && g.canStart() {
			break // f runs at once
		}
		if !block {
			g.mu.Unlock()
			return false
		}
		if g.queued() < g.queueLen() {
			break // queued
		}
		g.blocked++
		g.notFull.Wait()
		g.blocked--
	}
	if g.free == nil && cap(g.queue) == 0 {
		g.takeCache()
	}
	t := g.newTask(f)
	g.active++
	g.chain.Add(&t.Entry) // under g.mu: chain order is queue order
	g.queue = append(g.queue, t)
	g.startWorkers()
	g.mu.Unlock()
	return true
}

// queueLen returns how many tasks may wait in the queue: max(4n, 64).
func (g *Group) queueLen() int {
	if g.limit > math.MaxInt/4 {
		return math.MaxInt
	}
	return max(4*g.limit, 64)
}

func (g *Group) queued() int { return len(g.queue) - g.qhead }

// canStart reports whether one more task may start, with g.mu held: fewer
// than limit run, and fewer than the window are under way.
func (g *Group) canStart() bool {
	return g.running < g.limit && g.running+g.parked+g.deferred < g.underWay
}

// cancelled reports whether the Group's context is done.
func (g *Group) cancelled() bool { return g.ctx != nil && g.ctx.Err() != nil }

// pop removes the task at the head of the queue, with g.mu held.
func (g *Group) pop() *groupTask {
	t := popFront(&g.queue, &g.qhead)
	if g.blocked > 0 && g.queued() <= g.queueLen()/2 {
		g.notFull.Broadcast() // wake producers once half the queue is free
	}
	return t
}

// startWorkers starts queued tasks while the limit and the window allow,
// with g.mu held: each on an idle worker, woken to take it, or else on a
// new one.
func (g *Group) startWorkers() {
	if g.cancelled() {
		return // the queued tasks are dropped by the next task to return
	}
	for g.queued() > g.wakeups && g.canStart() {
		g.running++ // for the task the worker takes
		if g.idle > g.wakeups {
			g.wakeups++
			g.work.Signal()
			continue
		}
		go g.worker(g.pop())
	}
}

// drop takes the queued tasks out of the queue, with g.mu held, for the
// caller to complete with dropped once g.mu is released: completing an
// entry may run functions given to Then, which may call Go.
func (g *Group) drop() []*groupTask {
	g.running -= g.wakeups // idle workers woken to take one find none
	g.wakeups = 0
	var ts []*groupTask
	for g.queued() > 0 {
		ts = append(ts, g.pop())
	}
	return ts
}

// dropped completes the entries of tasks taken by drop, without running
// them: the Group's context is done.
func (g *Group) dropped(ts []*groupTask) {
	for _, t := range ts {
		t.Complete()
		g.mu.Lock()
		g.active--
		g.recycle(t)
		g.noneActive()
		g.mu.Unlock()
	}
}

// worker runs t and the tasks of its batch (linked by next), then queued
// tasks in queue order while the limit allows. With nothing it may start
// it waits, idle, while tasks are active, and exits once none is: no
// worker outlives the Group's work, and tasks that come a moment apart
// take an idle worker, not a new goroutine.
//
// Quick tasks are taken in batches that last about batchTime, run one
// after another in the worker's slot under the limit: one lock per batch
// instead of one per task, and consecutive tasks in one goroutine, where
// each would otherwise wait in Wait for its predecessor running on
// another worker. A slow task delays the rest of its batch at most, and
// those wait for its section anyway.
func (g *Group) worker(t *groupTask) {
	for t != nil {
		start := time.Now()
		first, ran := t, 0
		for t != nil {
			t.started.Store(life(t.word.Load()))
			g.run(t)
			ran++
			last := t
			t = t.next
			if t != nil && (last.usedThen.Load() || g.cancelled()) {
				break // the window or the context decides on the rest
			}
		}
		elapsed := int64(time.Since(start))
		g.mu.Lock()
		g.perTask = max(elapsed/int64(ran), 1)
		g.settle(first, t)
		var next *groupTask
		var ts []*groupTask
		switch {
		case g.cancelled():
			g.unpop(t)
			ts = g.drop()
		case t != nil && g.canStart():
			next = t // the rest of the batch, in the same slot
			g.running++
		case t != nil:
			g.unpop(t)
		}
		if next == nil && !g.cancelled() {
			if g.queued() > g.wakeups && g.canStart() {
				next = g.popBatch()
				g.startWorkers() // the limit or window may have grown by more than one
			} else if g.limit > 0 {
				next = g.idleWait()
			}
		}
		g.noneActive()
		g.mu.Unlock()
		g.dropped(ts)
		t = next
	}
}

// noneActive, with g.mu held, lets idle workers exit and wakes the
// callers of Wait once no task is active.
func (g *Group) noneActive() {
	if g.active != 0 {
		return
	}
	if g.work.L != nil {
		g.work.Broadcast()
	}
	if g.waiting > 0 {
		g.done.Broadcast()
	}
}

// settle counts the tasks from t up to end (excluded), which have
// returned, as done, with g.mu held, recycles them, and frees the
// worker's slot.
func (g *Group) settle(t, end *groupTask) {
	for t != end {
		if t.parked { // a goroutine other than t's still waits on t's entry
			t.parked = false
			g.parked--
			g.running++
		}
		if t.usedThen.Load() && !t.thenDone {
			t.inWindow = true // until its Then function has run
			g.deferred++
		}
		g.active--
		next := t.next
		t.next = nil
		g.recycle(t)
		t = next
	}
	g.running--
}

// batchTask is the longest a task may take, as last measured, for tasks
// to be taken in batches, and batchTime what a batch aims at. Both are
// short: the tasks of a batch run one after another, so a batch of tasks
// that wait (for I/O, or a sleep) would wait in turn, where one by one
// they wait side by side; a batch is worth it only where the hand-off
// per task costs as much as the task.
const (
	batchTask = 5 * time.Microsecond
	batchTime = 20 * time.Microsecond
)

// popBatch takes a batch of tasks from the head of the queue, with g.mu
// held, for a worker whose slot it counts as running: as many as last
// about batchTime, up to maxChunk, and no more than a share of the queue
// for each worker the limit allows.
func (g *Group) popBatch() *groupTask {
	n := 1
	if ns := g.perTask; ns > 0 && ns <= int64(batchTask) {
		n = int(min(int64(batchTime)/ns, maxChunk))
	}
	n = max(min(n, (g.queued()-g.wakeups)/g.limit), 1)
	t := g.pop()
	g.running++
	for last := t; n > 1; n-- {
		last.next = g.pop()
		last = last.next
	}
	return t
}

// unpop puts the batch from t, none of which started, back at the head
// of the queue, with g.mu held.
func (g *Group) unpop(t *groupTask) {
	var ts []*groupTask
	for t != nil {
		ts = append(ts, t)
		t, t.next = t.next, nil
	}
	g.queue = slices.Insert(g.queue, g.qhead, ts...)
}

// idleWait waits, with g.mu held, until startWorkers hands the worker a
// queued task, which it returns, or no task is active, when it returns
// nil.
func (g *Group) idleWait() *groupTask {
	for g.wakeups == 0 {
		if g.active == 0 || g.cancelled() {
			return nil
		}
		g.idle++
		g.work.Wait()
		g.idle--
	}
	g.wakeups--
	return g.pop() // running was counted by startWorkers
}

// run runs a task, records its error, and completes its entry.
func (g *Group) run(t *groupTask) {
	ctx := g.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if err := t.f(ctx, &t.Entry); err != nil {
		g.mu.Lock()
		first := g.err == nil
		if first {
			g.err = err
		}
		g.mu.Unlock()
		if first && g.cancel != nil {
			g.cancel(err)
		}
	}
	t.Complete() // does nothing if f gave the entry to Then
}

// newTask returns a task for f, reused from the free list if it has
// one, with g.mu held.
func (g *Group) newTask(f func(context.Context, *Entry) error) *groupTask {
	var t *groupTask
	if n := len(g.free); n > 0 {
		t = g.free[n-1]
		g.free[n-1] = nil
		g.free = g.free[:n-1]
	} else {
		t = new(groupTask)
	}
	t.g, t.f, t.task = g, f, t
	t.parkable = g.limit > 0 && g.underWay > g.limit
	return t
}

// recycle puts t on the free list, with g.mu held, if nothing can still
// use it — no goroutine is inside Wait on its entry, and the entry has
// completed (a function given to Then may still hold it) — and the list
// holds fewer tasks than may be alive at once: queued or under way.
func (g *Group) recycle(t *groupTask) {
	alive := g.queueLen()
	if alive <= math.MaxInt-g.underWay {
		alive += g.underWay
	}
	if t.sleepers.Load() != 0 || t.Pending() || t.usedThen.Load() || len(g.free) >= alive {
		return
	}
	t.f, t.g, t.task = nil, nil, nil
	g.free = append(g.free, t)
}

// A groupCache is what a Group keeps for its tasks: its free list and
// its queue's array. Wait hands it to groupCaches and the next Group to
// queue a task takes it, so that a Group made for each batch of work —
// the usual way — does not allocate its tasks anew. A task on the free
// list has no goroutine inside Wait on its entry (recycle), so a Group
// that takes it over shares nothing with the one that used it.
type groupCache struct {
	free, queue []*groupTask
}

var groupCaches sync.Pool

// takeCache, with g.mu held, takes over a cache from groupCaches, if
// one is there.
func (g *Group) takeCache() {
	c, _ := groupCaches.Get().(*groupCache)
	if c == nil {
		return
	}
	g.free, g.queue, g.qhead = c.free, c.queue, 0
	c.free, c.queue = nil, nil
	g.cache = c
}

// putCache, with g.mu held and no task active, hands the free list and
// the queue's array to groupCaches.
func (g *Group) putCache() {
	if g.free == nil && cap(g.queue) == 0 {
		return
	}
	c := g.cache
	if c == nil {
		c = new(groupCache)
	}
	c.free, c.queue = g.free, g.queue[:0]
	g.free, g.queue, g.qhead, g.cache = nil, nil, 0, nil
	groupCaches.Put(c)
}

// park and unpark count t as parked in Wait on its own entry, or running
// again: a parked task makes room for another under the limit.
func (g *Group) park(t *groupTask) {
	g.mu.Lock()
	if w := t.word.Load(); t.started.Load() == life(w) && w&stateMask != stateDone && !t.usedThen.Load() && !t.parked {
		t.parked = true
		g.running--
		g.parked++
		g.startWorkers()
	}
	g.mu.Unlock()
}

// thenRan counts t's Then function as run: t leaves the window.
func (g *Group) thenRan(t *groupTask) {
	g.mu.Lock()
	t.thenDone = true
	if t.inWindow {
		t.inWindow = false
		g.deferred--
		g.startWorkers()
	}
	g.mu.Unlock()
}

func (g *Group) unpark(t *groupTask) {
	g.mu.Lock()
	if t.parked {
		t.parked = false
		g.parked--
		g.running++
	}
	g.mu.Unlock()
}

// Wait blocks until every task started by Go has returned, then returns
// the first non-nil error any of them returned.
func (g *Group) Wait() error {
	g.mu.Lock()
	g.done.L = &g.mu
	for g.active > 0 {
		g.waiting++
		g.done.Wait()
		g.waiting--
	}
	err := g.err
	g.putCache()
	g.mu.Unlock()
	if g.cancel != nil {
		g.cancel(err)
	}
	return err
}
