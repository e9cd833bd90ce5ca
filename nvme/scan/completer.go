package scan

import (
	"sync"
	"sync/atomic"
)

// Task states of an Async or Ordered scan, bits of task.state.
const (
	taskHanded   = 1 << iota // added to the chain and handed to the completer
	taskAnswered             // both identify commands are answered
	taskQueued               // queued to run: set once, by whoever queues it
)

// A completer runs the tasks of an Async or Ordered scan on one goroutine
// as their answers arrive: no goroutine waits for a namespace, and answers
// that arrive together run back to back with the goroutine woken once. A
// task runs once it is both handed over (in list order, so it is on the
// chain) and answered; stale-namespace tasks run when handed over. If the
// scan's context ends or the controller stops, every task handed over
// runs at once: its Wait returns why.
type completer struct {
	r       *run
	wake    chan struct{} // one token: ready has tasks, or closed was set
	stopped chan struct{} // closed when run returns
	room    chan struct{} // one token: tasks with commands ran
	out     atomic.Int64  // tasks whose commands were started and that have not run

	mu      sync.Mutex
	ready   []*task // queued to run, in the order they were queued
	handed  []*task // handed over; those queued are dropped from time to time
	compact int     // len(handed) at which it is compacted next
	nhanded int     // tasks handed over in all
	closed  bool    // the list is done: nothing more is handed over
	failing bool    // ctx ended or the controller stopped: run on handing over
}

func newCompleter(r *run) *completer {
	c := &completer{r: r, wake: make(chan struct{}, 1), stopped: make(chan struct{}), room: make(chan struct{}, 1), compact: 1024}
	go c.run()
	return c
}

// waitRoom waits, if limit tasks or more have commands out, until at most
// limit - limit/8 have, so that the goroutine that sends the commands
// wakes once for a batch of command identifiers, not once for each; it
// returns at once if ctx ends or the controller stops. flush is called
// before waiting: only tasks handed over can run and make room.
func (c *completer) waitRoom(limit int64, flush func()) {
	if c.out.Load() < limit {
		return
	}
	flush()
	low := limit - max(1, limit/8)
	for c.out.Load() > low {
		select {
		case <-c.room:
		case <-c.r.ctx.Done():
			return
		case <-c.r.s.Ctrl.Done():
			return
		}
	}
}

// hand hands t over, once it is on the chain. It never blocks.
func (c *completer) hand(t *task) error {
	c.mu.Lock()
	c.nhanded++
	failing := c.failing
	if !failing && t.ids != nil {
		if len(c.handed) >= c.compact {
			c.handed = dropQueued(c.handed)
			c.compact = max(2*len(c.handed), 1024)
		}
		c.handed = append(c.handed, t)
	}
	c.mu.Unlock()
	if old := t.state.Or(taskHanded); failing || t.ids == nil || old&taskAnswered != 0 {
		c.queue(t)
	}
	return nil
}

// answered is called, from the controller's goroutines, once both of t's
// commands are answered. It never blocks.
func (c *completer) answered(t *task) {
	if old := t.state.Or(taskAnswered); old&taskHanded != 0 {
		c.queue(t)
	}
}

// queue queues t to run, unless it is queued already.
func (c *completer) queue(t *task) {
	for {
		old := t.state.Load()
		if old&taskQueued != 0 {
			return
		}
		if t.state.CompareAndSwap(old, old|taskQueued) {
			break
		}
	}
	c.mu.Lock()
	c.ready = append(c.ready, t)
	c.mu.Unlock()
	c.signal()
}

func (c *completer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// close says the list is done, and waits until every task handed over
// has run.
func (c *completer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.signal()
	<-c.stopped
}

// fail runs every task handed over and not yet queued, and from now on
// each task as it is handed over.
func (c *completer) fail() {
	c.mu.Lock()
	c.failing = true
	handed := c.handed
	c.handed = nil
	c.mu.Unlock()
	for _, t := range handed {
		c.queue(t)
	}
}

// dropQueued returns ts without the tasks queued already, in place.
func dropQueued(ts []*task) []*task {
	out := ts[:0]
	for _, t := range ts {
		if t.state.Load()&taskQueued == 0 {
			out = append(out, t)
		}
	}
	clear(ts[len(out):])
	return out
}

func (c *completer) run() {
	defer close(c.stopped)
	r := c.r
	ctxDone, ctrlDone := r.ctx.Done(), r.s.Ctrl.Done()
	var batch []*task
	ran := 0
	for {
		c.mu.Lock()
		batch, c.ready = c.ready, batch[:0]
		done := c.closed && ran+len(batch) == c.nhanded
		c.mu.Unlock()
		withCommands := int64(0)
		for i, t := range batch {
			if t.ids != nil {
				withCommands++
			}
			r.runTask(t)
			batch[i] = nil
		}
		ran += len(batch)
		if withCommands > 0 {
			c.out.Add(-withCommands)
			select {
			case c.room <- struct{}{}:
			default:
			}
		}
		if done {
			return
		}
		if len(batch) > 0 {
			continue // more may have come meanwhile
		}
		select {
		case <-c.wake:
		case <-ctxDone:
			ctxDone, ctrlDone = nil, nil
			c.fail()
		case <-ctrlDone:
			ctxDone, ctrlDone = nil, nil
			c.fail()
		}
	}
}
