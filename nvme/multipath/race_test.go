package multipath

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// A step is one event on one controller: attach namespace k at nsid,
// detach nsid, or lose every path (loss).
type step struct {
	kind byte // 'A' attach, 'D' detach, 'L' loss of the controller's paths
	nsid uint32
	k    int
}

// A scenario starts from paths attached one after another, then runs
// each controller's steps in its order, the controllers' steps
// interleaved in every possible way.
type scenario struct {
	name    string
	initial []Path
	steps   [][]step // by controller instance
}

var scenarios = []scenario{
	{"two paths, both detached and attached again",
		[]Path{path(0, 1, 1), path(1, 1, 1)},
		[][]step{{{'D', 1, 0}, {'A', 1, 1}}, {{'D', 1, 0}, {'A', 1, 1}}}},
	{"two paths, namespace replaced at the same NSID",
		[]Path{path(0, 1, 1), path(1, 1, 1)},
		[][]step{{{'D', 1, 0}, {'A', 1, 2}}, {{'D', 1, 0}, {'A', 1, 2}}}},
	{"two paths, one controller lost and back",
		[]Path{path(0, 1, 1), path(1, 1, 1), path(1, 2, 2)},
		[][]step{{{'D', 1, 0}, {'A', 1, 1}}, {{'L', 0, 0}, {'A', 2, 2}, {'A', 1, 1}}}},
	{"three paths, detach, loss, attach",
		[]Path{path(0, 1, 1), path(1, 1, 1), path(2, 1, 1)},
		[][]step{{{'D', 1, 0}, {'A', 1, 1}}, {{'L', 0, 0}, {'A', 1, 1}}, {{'D', 1, 0}, {'A', 1, 1}}}},
	{"three paths, namespace replaced while a controller is lost",
		[]Path{path(0, 1, 1), path(1, 1, 1), path(2, 1, 1), path(2, 3, 3)},
		[][]step{{{'D', 1, 0}, {'A', 1, 2}}, {{'L', 0, 0}}, {{'D', 1, 0}, {'A', 3, 3}, {'A', 1, 2}}}},
}

// An event is a step and the controller it runs on.
type event struct {
	ctrl int
	step
}

// interleavings returns every merge of the controllers' step lists that
// keeps each controller's order.
func interleavings(steps [][]step) [][]event {
	var out [][]event
	pos := make([]int, len(steps))
	var cur []event
	var rec func()
	rec = func() {
		done := true
		for c := range steps {
			if pos[c] < len(steps[c]) {
				done = false
				cur = append(cur, event{c, steps[c][pos[c]]})
				pos[c]++
				rec()
				pos[c]--
				cur = cur[:len(cur)-1]
			}
		}
		if done {
			out = append(out, slices.Clone(cur))
		}
	}
	rec()
	return out
}

// delayPatterns returns the slow work each event does before its turn:
// every combination of 0 and 1 ms for up to four events, else four
// patterns (none, rising, falling, alternating).
func delayPatterns(n int) [][]time.Duration {
	var out [][]time.Duration
	if n <= 4 {
		for m := range 1 << n {
			d := make([]time.Duration, n)
			for i := range d {
				d[i] = time.Duration(m>>i&1) * time.Millisecond
			}
			out = append(out, d)
		}
		return out
	}
	none, rise, fall, alt := make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n)
	for i := range n {
		rise[i] = time.Duration(i) * 500 * time.Microsecond
		fall[i] = time.Duration(n-i) * 500 * time.Microsecond
		alt[i] = time.Duration(i%2) * 2 * time.Millisecond
	}
	return append(out, none, rise, fall, alt)
}

// teardown is how long a head's disk takes to go (Linux's del_gendisk).
const teardown = 1500 * time.Microsecond

// disks is the set of disk names present, as sysfs holds them: a name
// added while present, or deleted while absent, is a fault.
type disks struct {
	mu     sync.Mutex
	names  map[string]bool
	faults []string
}

func (d *disks) hooks() Hooks {
	return Hooks{
		AddDisk: func(_ context.Context, name string) error {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.names[name] {
				d.faults = append(d.faults, "add of present "+name)
			}
			d.names[name] = true
			return nil
		},
		DelDisk: func(_ context.Context, name string) {
			time.Sleep(teardown)
			d.mu.Lock()
			defer d.mu.Unlock()
			if !d.names[name] {
				d.faults = append(d.faults, "delete of absent "+name)
			}
			delete(d.names, name)
		},
	}
}

// model is the reference: the scenario's events applied one at a time,
// in the order they began, with each policy's numbering.
type model struct {
	naming   Naming
	heads    map[uint32]*modelHead
	recorded map[int]int // persistent: namespace k → number
}

type modelHead struct {
	k, inst int
	ctrls   map[int]bool
}

func newModel(n Naming) *model {
	return &model{naming: n, heads: map[uint32]*modelHead{}, recorded: map[int]int{}}
}

// smallestFree returns the smallest number from 1 that taken does not
// report.
func smallestFree(taken func(int) bool) int {
	i := 1
	for taken(i) {
		i++
	}
	return i
}

func (m *model) apply(e event) {
	switch e.kind {
	case 'A':
		h := m.heads[e.nsid]
		if h != nil {
			if h.k == e.k { // else: identifiers differ, refused
				h.ctrls[e.ctrl] = true
			}
			return
		}
		h = &modelHead{k: e.k, ctrls: map[int]bool{e.ctrl: true}}
		switch m.naming {
		case Index:
			h.inst = smallestFree(func(i int) bool {
				return slices.ContainsFunc(slices.Collect(maps.Values(m.heads)), func(o *modelHead) bool { return o.inst == i })
			})
		case NSID:
			h.inst = int(e.nsid)
		case Persistent:
			if m.recorded[e.k] == 0 {
				m.recorded[e.k] = smallestFree(func(i int) bool {
					return slices.Contains(slices.Collect(maps.Values(m.recorded)), i)
				})
			}
			h.inst = m.recorded[e.k]
		}
		m.heads[e.nsid] = h
	case 'D':
		if h := m.heads[e.nsid]; h != nil {
			delete(h.ctrls, e.ctrl)
			if len(h.ctrls) == 0 {
				delete(m.heads, e.nsid)
			}
		}
	case 'L':
		for nsid, h := range m.heads {
			delete(h.ctrls, e.ctrl)
			if len(h.ctrls) == 0 {
				delete(m.heads, nsid)
			}
		}
	}
}

// describe lists the model's heads as describe lists a Subsystem's.
func (m *model) describe(s int) []string {
	hs := make([]Head, 0, len(m.heads))
	for nsid, h := range m.heads {
		head := Head{Subsystem: s, NSID: nsid, Instance: h.inst}
		for _, c := range slices.Sorted(maps.Keys(h.ctrls)) {
			head.Paths = append(head.Paths, Path{Controller: c})
		}
		hs = append(hs, head)
	}
	slices.SortFunc(hs, func(a, b Head) int { return a.Instance - b.Instance })
	return describe(hs)
}

// run runs one interleaving in a bubble: the events begin in order, each
// in its own goroutine does its slow work, then runs in its turn. It
// returns a description of what went wrong, or "".
func run(t *testing.T, sc scenario, order []event, delays []time.Duration, naming Naming, dir string) (problem string) {
	synctest.Test(t, func(t *testing.T) {
		d := &disks{names: map[string]bool{}}
		names, err := OpenNames(filepath.Join(dir, "absent.json"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(Config{NQN: "nqn.x", Instance: 0, Naming: naming, Names: names, Hooks: d.hooks()})
		if err != nil {
			t.Fatal(err)
		}
		m := newModel(naming)
		ctx := context.Background()
		for _, p := range sc.initial {
			if _, err := s.Attach(ctx, p); err != nil {
				t.Fatal(err)
			}
			m.apply(event{p.Controller, step{'A', p.NSID, int(p.IDs.NGUID[15])}})
		}
		var wg sync.WaitGroup
		for i, e := range order {
			ev := s.Begin()
			m.apply(e)
			wg.Go(func() {
				time.Sleep(delays[i])
				switch e.kind {
				case 'A':
					ev.Attach(ctx, path(e.ctrl, e.nsid, e.k)) // a refused path is in the model too
				case 'D':
					ev.Detach(ctx, e.ctrl, e.nsid)
				case 'L':
					ev.DetachController(ctx, e.ctrl)
				}
			})
		}
		wg.Wait()
		got, want := describe(s.Heads()), m.describe(0)
		present := slices.Sorted(maps.Keys(d.names))
		var heads []string
		for _, h := range s.Heads() {
			heads = append(heads, h.Name())
		}
		slices.Sort(heads)
		switch {
		case len(d.faults) > 0:
			problem = fmt.Sprint("disk faults ", d.faults)
		case !slices.Equal(got, want):
			problem = fmt.Sprintf("heads %q, want %q", got, want)
		case !slices.Equal(present, heads):
			problem = fmt.Sprintf("disks %q for heads %q: a stale head or disk", present, heads)
		}
	})
	return problem
}

// TestInterleavings drives two and three paths through every
// interleaving of detach, attach and path-loss events, with slow work
// before each event's turn and a slow disk teardown, under each naming
// policy: no disk name is ever added twice or deleted twice, no head is
// left without paths or without its disk, and the heads and their
// numbers are those of the events applied one at a time in the order they
// began.
func TestInterleavings(t *testing.T) {
	dir := t.TempDir()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			orders := interleavings(sc.steps)
			runs := 0
			for _, naming := range []Naming{Index, NSID, Persistent} {
				for _, order := range orders {
					for _, delays := range delayPatterns(len(order)) {
						runs++
						if p := run(t, sc, order, delays, naming, dir); p != "" {
							t.Fatalf("%v, order %c, delays %v: %s", naming, order, delays, p)
						}
					}
				}
			}
			t.Logf("%d interleavings, %d runs", len(orders), runs)
		})
	}
}

func TestInterleavingsCount(t *testing.T) {
	tests := []struct {
		steps [][]step
		want  int
	}{
		{[][]step{{{}, {}}, {{}, {}}}, 6},
		{[][]step{{{}, {}}, {{}, {}}, {{}, {}}}, 90},
		{[][]step{{{}}, {{}, {}, {}}}, 4},
	}
	for _, tt := range tests {
		if got := len(interleavings(tt.steps)); got != tt.want {
			t.Errorf("%d interleavings, want %d", got, tt.want)
		}
	}
}
