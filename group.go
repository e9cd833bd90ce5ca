package complchain

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
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
type Group struct {
	chain  Chain
	wg     sync.WaitGroup
	cancel context.CancelCauseFunc
	ctx    context.Context

	mu    sync.Mutex
	err   error
	panic *PanicError

	// With a limit, tasks wait in a FIFO run queue of at most limit tasks
	// for one of at most limit workers.
	limit    int          // 0: no limit
	ring     []*groupTask // the run queue: n tasks from head
	head, n  int
	blocked  int // goroutines waiting in Go for room in the queue
	workers  int
	idle     int
	stopping bool // set by Wait to stop the workers
	notEmpty sync.Cond
	notFull  sync.Cond
	workerWG sync.WaitGroup
}

// PanicError is the value Wait panics with when a task panicked: the
// task's panic value and its goroutine's stack.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string {
	return fmt.Sprintf("complchain: task panicked: %v\n\n%s", p.Value, p.Stack)
}

// Unwrap returns the panic value if it is an error.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// WithContext returns a new Group and a context derived from ctx. The
// context is cancelled the first time a task returns a non-nil error or
// panics, or when Wait returns, whichever occurs first. Tasks receive it.
func WithContext(ctx context.Context) (*Group, context.Context) {
	ctx, cancel := context.WithCancelCause(ctx)
	return &Group{ctx: ctx, cancel: cancel}, ctx
}

// SetLimit limits the number of tasks running at once to n; a negative n
// removes the limit. With a limit, tasks run on up to n goroutines that the
// Group keeps until Wait, which makes tiny tasks cheap, and tasks beyond
// those wait their turn in a queue of max(4n, 64) tasks; Go blocks while
// the queue is full.
// SetLimit panics if called while tasks are active, or with n = 0.
func (g *Group) SetLimit(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.workers != 0 {
		panic(fmt.Errorf("complchain: modify limit while %v tasks in the group are still active", g.n+g.workers-g.idle))
	}
	if n == 0 {
		panic("complchain: SetLimit(0): no task could ever run")
	}
	g.limit = max(n, 0)
	g.ring = make([]*groupTask, max(4*g.limit, 64))
	g.notEmpty.L, g.notFull.L = &g.mu, &g.mu
}

type groupTask struct {
	Entry
	f func(context.Context, *Entry) error
}

var taskPool = sync.Pool{New: func() any { return new(groupTask) }}

// Go calls f with the Group's context and the task's Entry, added to the
// Group's chain now: f's Wait on it returns once every task started before
// by Go has returned or completed its entry. Without a limit f runs in a
// new goroutine; with one, in one of the Group's workers, in Go order.
//
// The first task to return a non-nil error cancels the Group's context;
// Wait returns that error. Go blocks while the limit set by SetLimit is
// reached.
func (g *Group) Go(f func(ctx context.Context, e *Entry) error) {
	g.start(f, true)
}

// TryGo calls f as Go does only if the limit allows it without blocking,
// and reports whether it did.
func (g *Group) TryGo(f func(ctx context.Context, e *Entry) error) bool {
	return g.start(f, false)
}

func (g *Group) start(f func(context.Context, *Entry) error, block bool) bool {
	t := taskPool.Get().(*groupTask)
	t.f = f
	g.mu.Lock()
	if g.limit == 0 {
		g.mu.Unlock()
		g.wg.Add(1)
		g.chain.Add(&t.Entry)
		go func() {
			g.run(t)
			g.wg.Done()
		}()
		return true
	}
	for g.n == len(g.ring) {
		if !block {
			g.mu.Unlock()
			t.f = nil
			taskPool.Put(t)
			return false
		}
		g.blocked++
		g.notFull.Wait()
		g.blocked--
	}
	g.wg.Add(1)
	g.chain.Add(&t.Entry) // under g.mu: chain order is queue order
	g.ring[(g.head+g.n)%len(g.ring)] = t
	g.n++
	switch {
	case g.idle > 0:
		g.notEmpty.Signal()
	case g.workers < g.limit:
		g.workers++
		g.workerWG.Add(1)
		go g.worker()
	}
	g.mu.Unlock()
	return true
}

// worker runs queued tasks, in queue order, until Wait stops the workers.
func (g *Group) worker() {
	defer g.workerWG.Done()
	g.mu.Lock()
	for {
		for g.n == 0 {
			if g.stopping {
				g.workers--
				g.mu.Unlock()
				return
			}
			g.idle++
			g.notEmpty.Wait()
			g.idle--
		}
		t := g.ring[g.head]
		g.ring[g.head] = nil
		g.head = (g.head + 1) % len(g.ring)
		g.n--
		if g.blocked > 0 && g.n <= len(g.ring)/2 {
			g.notFull.Broadcast() // wake producers once half the queue is free
		}
		g.mu.Unlock()
		g.run(t)
		g.wg.Done()
		g.mu.Lock()
	}
}

// run runs a task, records its error or panic, and completes its entry.
func (g *Group) run(t *groupTask) {
	defer func() {
		if r := recover(); r != nil {
			g.mu.Lock()
			if g.panic == nil {
				g.panic = &PanicError{Value: r, Stack: debug.Stack()}
			}
			g.mu.Unlock()
			if g.cancel != nil {
				g.cancel(fmt.Errorf("complchain: task panicked: %v", r))
			}
		}
		t.Complete()
		t.f = nil
		taskPool.Put(t)
	}()
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
}

// Wait blocks until every task started by Go has returned, then returns
// the first non-nil error any of them returned. If a task panicked, Wait
// panics, once all have returned, with a *PanicError holding the task's
// panic value and stack.
func (g *Group) Wait() error {
	g.wg.Wait()
	g.mu.Lock()
	g.stopping = true // the idle workers exit
	g.notEmpty.Broadcast()
	g.mu.Unlock()
	g.workerWG.Wait()
	g.mu.Lock()
	g.stopping = false
	g.mu.Unlock()
	if g.cancel != nil {
		g.cancel(g.err)
	}
	if g.panic != nil {
		panic(g.panic)
	}
	return g.err
}
