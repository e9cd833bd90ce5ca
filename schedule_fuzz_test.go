package complchain

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// FuzzSchedules reads its input as a small program for two drivers that
// add entries to two chains, each byte one step: add an entry (again, as
// soon as its last life has ended), start a task for its current life
// (wait and run a critical section, wait with a cancelled context, only
// complete, complete twice at once, or hand the section to Then), start a
// waiter on any entry in any state, flush a chain, or yield. Tasks,
// waiters and flushes run in goroutines of their own. After each run it
// checks that, within each life, a Wait that returns nil and each
// critical section come only after every entry added before it completed;
// that critical sections run one at a time, in Add order, exactly once;
// that Flush returns only after every entry added before it completed; and
// that every chain is empty and no goroutine is left behind.
func FuzzSchedules(f *testing.F) {
	// The seed corpus is in testdata/fuzz/FuzzSchedules.
	f.Fuzz(func(t *testing.T, program []byte) {
		if len(program) > 512 {
			program = program[:512]
		}
		runSchedule(t, program)
	})
}

// TestSchedules runs FuzzSchedules' program on random inputs, so that
// every test run explores schedules too.
func TestSchedules(t *testing.T) {
	for seed := range uint64(200) {
		program := make([]byte, 64+seed%128)
		x := seed*0x9e3779b97f4a7c15 + 1
		for i := range program {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			program[i] = byte(x)
		}
		runSchedule(t, program)
		if t.Failed() {
			t.Fatalf("program %q", program)
		}
	}
}

const (
	schedEntries = 4 // per driver
	schedChains  = 2
)

type schedChain struct {
	Chain
	mu     sync.Mutex // orders Add with the numbering of lives
	next   int        // the number of the next life added
	done   []bool     // lives completed, by number
	inside atomic.Int32
	ran    []int // critical sections, in the order they ran
}

// life is one life of an entry: its chain and its number in Add order.
type schedLife struct {
	c   *schedChain
	seq int
}

type schedEntry struct {
	Entry
	// life is the current life; ver is odd while an Add is under way, so
	// a waiter can tell whether its Wait overlapped one.
	life   atomic.Pointer[schedLife]
	ver    atomic.Uint64
	tasked bool // the current life has its task (driver's own)
	// finished is set when the task's goroutine returns: the entry is
	// re-added only then, as every Complete of a life must have been
	// called before the next life begins (a later one would complete the
	// new life). Waiters of the old life may still run.
	finished atomic.Bool
}

func runSchedule(t *testing.T, program []byte) {
	var chains [schedChains]schedChain
	var entries [2][schedEntries]schedEntry
	var wg sync.WaitGroup
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	// completedBefore reports whether every life of l's chain numbered
	// below l completed.
	completedBefore := func(l *schedLife) bool {
		l.c.mu.Lock()
		defer l.c.mu.Unlock()
		for i := range l.seq {
			if !l.c.done[i] {
				return false
			}
		}
		return true
	}
	lifeDone := func(l *schedLife) bool {
		l.c.mu.Lock()
		defer l.c.mu.Unlock()
		return l.c.done[l.seq]
	}
	markDone := func(l *schedLife) {
		l.c.mu.Lock()
		l.c.done[l.seq] = true
		l.c.mu.Unlock()
	}
	section := func(l *schedLife) {
		if !completedBefore(l) {
			t.Errorf("critical section of life %d ran before its predecessors completed", l.seq)
		}
		if !l.c.inside.CompareAndSwap(0, 1) {
			t.Errorf("critical sections overlap at life %d", l.seq)
		}
		l.c.ran = append(l.c.ran, l.seq)
		l.c.inside.Store(0)
	}
	add := func(e *schedEntry, c *schedChain) {
		c.mu.Lock()
		l := &schedLife{c: c, seq: c.next}
		c.next++
		c.done = append(c.done, false)
		e.ver.Add(1)
		c.Add(&e.Entry)
		e.life.Store(l)
		e.ver.Add(1)
		c.mu.Unlock()
		e.tasked = false
	}
	// task starts the goroutine that owns the completion of e's life l.
	task := func(e *schedEntry, l *schedLife, mode byte) {
		e.tasked = true
		e.finished.Store(false)
		wg.Go(func() {
			defer e.finished.Store(true)
			switch mode % 5 {
			case 0: // wait, run the section, complete
				if err := e.Wait(context.Background()); err != nil {
					t.Errorf("Wait = %v", err)
				}
				section(l)
				markDone(l)
				e.Complete()
			case 1: // wait with a cancelled context
				if e.Wait(cancelled) == nil {
					section(l)
				}
				markDone(l)
				e.Complete()
			case 2: // fail before the section
				markDone(l)
				e.Complete()
			case 3: // complete from two goroutines at once
				markDone(l)
				var both sync.WaitGroup
				both.Go(e.Complete)
				e.Complete()
				both.Wait()
			case 4: // hand the section to the chain
				e.Then(func() {
					section(l)
					markDone(l)
				})
			}
		})
	}
	// waiter starts a goroutine that waits on e, in whatever life it is
	// then. If no Add overlapped the Wait, its life is known and checked;
	// if one did, the Wait still runs beside a re-added entry, and the
	// tasks' own Waits catch any wake-up it takes from the new life.
	waiter := func(e *schedEntry, ctx context.Context) {
		wg.Go(func() {
			v := e.ver.Load()
			l := e.life.Load()
			err := e.Wait(ctx)
			// Wait returns nil at once on a completed entry, even one
			// completed before its predecessors: only a Wait that
			// returned before its own life completed is checked.
			if err == nil && v%2 == 0 && e.ver.Load() == v && !lifeDone(l) && !completedBefore(l) {
				t.Errorf("Wait returned nil before the predecessors of life %d completed", l.seq)
			}
		})
	}
	flush := func(c *schedChain) {
		wg.Go(func() {
			c.mu.Lock()
			before := c.next
			c.mu.Unlock()
			if err := c.Flush(context.Background()); err != nil {
				t.Errorf("Flush = %v", err)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			for i := range before {
				if !c.done[i] {
					t.Errorf("Flush returned before life %d, added before it, completed", i)
					return
				}
			}
		})
	}

	var drivers sync.WaitGroup
	for d := range 2 {
		drivers.Go(func() {
			own := &entries[d]
			for i := d; i < len(program); i += 2 {
				b := program[i]
				arg := b >> 3
				e := &own[arg%schedEntries]
				c := &chains[(arg>>2)%schedChains]
				switch b & 7 {
				case 0, 1: // add, if the last life has ended
					if e.life.Load() == nil || e.tasked && e.finished.Load() && !e.Pending() {
						add(e, c)
					}
				case 2, 3: // start the task of the current life
					if l := e.life.Load(); l != nil && !e.tasked {
						task(e, l, arg)
					}
				case 4: // a waiter on any entry, in any state
					other := &entries[arg&1][(arg>>1)%schedEntries]
					if other.ver.Load() < 2 {
						continue // Wait on a never-added entry panics
					}
					ctx := context.Background()
					if arg&16 != 0 {
						ctx = cancelled
					}
					waiter(other, ctx)
				case 5:
					flush(c)
				default:
					runtime.Gosched()
				}
			}
			for i := range own { // every life gets its task
				if e := &own[i]; e.life.Load() != nil && !e.tasked {
					task(e, e.life.Load(), 2)
				}
			}
		})
	}
	drivers.Wait()
	wg.Wait()
	for i := range chains {
		c := &chains[i]
		if n := c.Len(); n != 0 {
			t.Errorf("chain %d: Len = %d after every life ended", i, n)
		}
		seen := map[int]bool{}
		for j, s := range c.ran {
			if seen[s] {
				t.Errorf("chain %d: the section of life %d ran twice", i, s)
			}
			seen[s] = true
			if j > 0 && s < c.ran[j-1] {
				t.Errorf("chain %d: sections ran in order %v", i, c.ran)
				break
			}
		}
		for s, done := range c.done {
			if !done {
				t.Errorf("chain %d: life %d never completed", i, s)
			}
		}
	}
	if t.Failed() {
		t.Logf("program %x", program)
	}
}
