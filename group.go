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
	sem    chan struct{}
	cancel context.CancelCauseFunc
	ctx    context.Context

	mu      sync.Mutex
	err     error
	panic   *PanicError
	work    chan *groupTask // limited groups: idle workers take tasks here
	workers int             // workers started, at most the limit
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

// SetLimit limits the number of active tasks to at most n; a negative n
// removes the limit. Go blocks while n tasks are active. SetLimit panics if
// called while tasks are active.
func (g *Group) SetLimit(n int) {
	if len(g.sem) != 0 {
		panic(fmt.Errorf("complchain: modify limit while %v tasks in the group are still active", len(g.sem)))
	}
	if n < 0 {
		g.sem = nil
		return
	}
	g.sem = make(chan struct{}, n)
}

type groupTask struct {
	Entry
	f func(context.Context, *Entry) error
}

var taskPool = sync.Pool{New: func() any { return new(groupTask) }}

// Go calls f in a new goroutine with the Group's context and the task's
// Entry, added to the Group's chain now: f's Wait on it returns once every
// task started before by Go has returned or completed its entry.
//
// The first task to return a non-nil error cancels the Group's context;
// Wait returns that error. Go blocks while the limit set by SetLimit is
// reached.
func (g *Group) Go(f func(ctx context.Context, e *Entry) error) {
	if g.sem != nil {
		g.sem <- struct{}{}
	}
	g.start(f)
}

// TryGo calls Go only if the limit allows a new task to start at once, and
// reports whether it did.
func (g *Group) TryGo(f func(ctx context.Context, e *Entry) error) bool {
	if g.sem != nil {
		select {
		case g.sem <- struct{}{}:
		default:
			return false
		}
	}
	g.start(f)
	return true
}

func (g *Group) start(f func(context.Context, *Entry) error) {
	t := taskPool.Get().(*groupTask)
	t.f = f
	g.chain.Add(&t.Entry)
	g.wg.Add(1)
	if g.sem == nil {
		go g.run(t)
		return
	}
	// A limited group keeps its workers until Wait, so tasks reuse
	// goroutines instead of starting one each.
	g.mu.Lock()
	if g.work == nil {
		g.work = make(chan *groupTask)
	}
	work := g.work
	g.mu.Unlock()
	select {
	case work <- t:
		return
	default:
	}
	g.mu.Lock()
	if g.workers < cap(g.sem) {
		g.workers++
		g.mu.Unlock()
		go g.worker(work, t)
		return
	}
	g.mu.Unlock()
	work <- t // the limit holds a slot for t: a worker is about to be free
}

func (g *Group) worker(work <-chan *groupTask, t *groupTask) {
	for ok := true; ok; t, ok = <-work {
		g.run(t)
	}
}

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
		if g.sem != nil {
			<-g.sem
		}
		g.wg.Done()
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
	if g.work != nil {
		close(g.work) // the idle workers exit
		g.work, g.workers = nil, 0
	}
	g.mu.Unlock()
	if g.cancel != nil {
		g.cancel(g.err)
	}
	if g.panic != nil {
		panic(g.panic)
	}
	return g.err
}
