package multipath

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// world is a subsystem's target side (which namespace is at which NSID,
// attached to which controllers) and a host that follows it with a
// Subsystem, checking the naming policy's promise at every head it
// makes.
type world struct {
	t        *testing.T
	rng      *rand.Rand
	naming   Naming
	file     string
	s        *Subsystem
	ns       map[uint32]*targetNS // by NSID
	lost     map[int]bool         // controllers whose paths are lost
	nextK    int
	recorded map[int]int // persistent: namespace k → number, ever given
}

type targetNS struct {
	k     int
	ctrls map[int]bool
}

const (
	worldCtrls = 3
	worldNSIDs = 6
)

func (w *world) open() {
	names, err := OpenNames(w.file)
	if err != nil {
		w.t.Fatal(err)
	}
	w.s, err = New(Config{NQN: "nqn.p", Naming: w.naming, Names: names})
	if err != nil {
		w.t.Fatal(err)
	}
}

// attach attaches nsid's namespace through ctrl on the host and checks
// the number a new head gets.
func (w *world) attach(ctrl int, nsid uint32) {
	n := w.ns[nsid]
	_, existed := w.s.Head(nsid)
	live := map[int]bool{}
	for _, h := range w.s.Heads() {
		live[h.Instance] = true
	}
	h, err := w.s.Attach(context.Background(), path(ctrl, nsid, n.k))
	if err != nil {
		w.t.Fatalf("attach c%d NSID %d: %v", ctrl, nsid, err)
	}
	if existed {
		return
	}
	var want int
	switch w.naming {
	case Index: // the smallest number no live head holds
		want = smallestFree(func(i int) bool { return live[i] })
	case NSID:
		want = int(nsid)
	case Persistent: // the namespace's number, else the smallest never given
		if w.recorded[n.k] == 0 {
			w.recorded[n.k] = smallestFree(func(i int) bool { return slices.Contains(slices.Collect(maps.Values(w.recorded)), i) })
		}
		want = w.recorded[n.k]
	}
	if h.Instance != want {
		w.t.Fatalf("%v: new head for NSID %d (namespace %d) is %s, want n%d", w.naming, nsid, n.k, h.Name(), want)
	}
}

// list returns the NSIDs attached to ctrl, in an order of the target's
// choosing.
func (w *world) list(ctrl int) []uint32 {
	var ids []uint32
	for nsid, n := range w.ns {
		if n.ctrls[ctrl] {
			ids = append(ids, nsid)
		}
	}
	slices.Sort(ids)
	w.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids
}

func (w *world) step() string {
	ctx := context.Background()
	c := w.rng.IntN(worldCtrls)
	nsid := uint32(1 + w.rng.IntN(worldNSIDs))
	switch op := w.rng.IntN(10); {
	case op < 4: // attach
		n := w.ns[nsid]
		if n == nil {
			w.nextK++
			n = &targetNS{k: w.nextK, ctrls: map[int]bool{}}
			w.ns[nsid] = n
		}
		n.ctrls[c] = true
		if !w.lost[c] {
			w.attach(c, nsid)
		}
		return fmt.Sprintf("attach c%d n%d", c, nsid)
	case op < 6: // detach
		if n := w.ns[nsid]; n != nil && n.ctrls[c] {
			delete(n.ctrls, c)
			if !w.lost[c] {
				if _, err := w.s.Detach(ctx, c, nsid); err != nil {
					w.t.Fatal(err)
				}
			}
		}
		return fmt.Sprintf("detach c%d n%d", c, nsid)
	case op < 7: // delete the namespace: the next one at nsid is another
		if n := w.ns[nsid]; n != nil {
			for ctrl := range n.ctrls {
				if !w.lost[ctrl] {
					w.s.Detach(ctx, ctrl, nsid)
				}
			}
			delete(w.ns, nsid)
		}
		return fmt.Sprintf("delete n%d", nsid)
	case op < 8: // path loss
		if !w.lost[c] {
			w.lost[c] = true
			w.s.DetachController(ctx, c)
		}
		return fmt.Sprintf("loss c%d", c)
	case op < 9: // reconnect: the list in another order
		if w.lost[c] {
			w.lost[c] = false
			for _, id := range w.list(c) {
				w.attach(c, id)
			}
		}
		return fmt.Sprintf("reconnect c%d", c)
	default: // restart: save, reopen, scan every controller
		if err := w.s.cfg.Names.Save(); err != nil {
			w.t.Fatal(err)
		}
		w.open()
		var order []uint32
		for ctrl := range worldCtrls {
			if w.lost[ctrl] {
				continue
			}
			for _, id := range w.list(ctrl) {
				if _, ok := w.s.Head(id); !ok {
					order = append(order, id)
				}
				w.attach(ctrl, id)
			}
		}
		if w.naming == Index { // dense, in the order the scan met them
			for i, id := range order {
				if h, _ := w.s.Head(id); h.Instance != i+1 {
					w.t.Fatalf("after restart NSID %d (met %d-th) is %s", id, i+1, h.Name())
				}
			}
		}
		return "restart"
	}
}

// check compares the host's heads with the target: a head for each NSID
// attached to a controller whose paths are not lost, with those paths,
// and no two heads named alike.
func (w *world) check() {
	want := map[uint32][]int{}
	for nsid, n := range w.ns {
		for c := range n.ctrls {
			if !w.lost[c] {
				want[nsid] = append(want[nsid], c)
			}
		}
	}
	names := map[string]bool{}
	got := map[uint32][]int{}
	for _, h := range w.s.Heads() {
		if names[h.Name()] {
			w.t.Fatalf("two heads named %s", h.Name())
		}
		names[h.Name()] = true
		for _, p := range h.Paths {
			got[h.NSID] = append(got[h.NSID], p.Controller)
		}
	}
	for _, cs := range want {
		slices.Sort(cs)
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		w.t.Fatalf("heads %v, want %v", got, want)
	}
}

// TestNamingProperties runs random seeded sequences of attach, detach,
// namespace deletion, path loss, reconnection with the list in another
// order and restart, under each policy, and checks after every step that
// the heads follow the target and that each new head has the number its
// policy promises:
//   - index: the smallest number no live head holds; after a restart,
//     1..n in the order the scan met the namespaces;
//   - nsid: the NSID;
//   - persistent: the number the namespace had before, across restarts,
//     path loss and detach/attach; a namespace never seen takes the
//     smallest number never given (no Forget here).
func TestNamingProperties(t *testing.T) {
	for _, naming := range []Naming{Index, NSID, Persistent} {
		for seed := range uint64(12) {
			t.Run(fmt.Sprintf("%v/%d", naming, seed), func(t *testing.T) {
				w := &world{t: t, rng: rand.New(rand.NewPCG(seed, 1)), naming: naming,
					file: filepath.Join(t.TempDir(), "names.json"), ns: map[uint32]*targetNS{},
					lost: map[int]bool{}, recorded: map[int]int{}}
				w.open()
				var trail []string
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("steps: %q", trail)
					}
				})
				for range 150 {
					trail = append(trail, "")
					trail[len(trail)-1] = w.step()
					w.check()
				}
			})
		}
	}
}
