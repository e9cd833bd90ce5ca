package multipath

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/complchain/complchain"
	"github.com/complchain/complchain/internal/ida"
	"github.com/complchain/complchain/nvme"
)

// Hooks are what a Subsystem does as heads come and go: Linux adds and
// deletes the head's disk. Each runs in the turn of the event that calls
// it, so no other event of the subsystem changes heads meanwhile, and a
// hook may take its time. Nil hooks do nothing.
type Hooks struct {
	// AddDisk is called with a new head's name before the head is
	// visible. An error refuses the head and the path that made it; the
	// event returns it.
	AddDisk func(ctx context.Context, name string) error
	// DelDisk is called with a head's name once its last path is gone,
	// while the head is still visible; the head disappears and its
	// number is freed when DelDisk returns. Its context is not
	// cancelled with the event's.
	DelDisk func(ctx context.Context, name string)
}

// Config configures a Subsystem.
type Config struct {
	NQN      string // the subsystem NQN
	Instance int    // the subsystem instance S; Linux uses the instance of its first controller
	Naming   Naming
	Names    *Names // required by Persistent, unused otherwise
	Hooks    Hooks
}

// A Subsystem holds the namespace heads of one NVM subsystem. Events
// that change heads (Attach, Detach, DetachController) run one at a
// time, in the order they began (Begin), whatever their callers do
// meanwhile; Heads and Head may be called at any time. It is safe for
// concurrent use.
type Subsystem struct {
	cfg   Config
	chain complchain.Chain

	mu    sync.Mutex
	heads map[uint32]*Head  // by NSID
	ids   map[string]uint32 // identifier key (idKeys) → NSID
	held  map[int]uint32    // instance → NSID of the head that holds it
	index ida.IDA           // Index instances
}

// New returns a Subsystem without heads. It returns an error for an
// unknown naming policy, or Persistent without Names.
func New(cfg Config) (*Subsystem, error) {
	switch {
	case cfg.Naming < Index || cfg.Naming > Persistent:
		return nil, fmt.Errorf("multipath: %v", cfg.Naming)
	case cfg.Naming == Persistent && cfg.Names == nil:
		return nil, errors.New("multipath: persistent naming needs Names")
	}
	return &Subsystem{cfg: cfg, heads: make(map[uint32]*Head), ids: make(map[string]uint32), held: make(map[int]uint32)}, nil
}

// NQN returns the subsystem NQN.
func (s *Subsystem) NQN() string { return s.cfg.NQN }

// Instance returns the subsystem instance S (Config.Instance).
func (s *Subsystem) Instance() int { return s.cfg.Instance }

// An Event is a change of a subsystem's heads, given its place in the
// subsystem's order by Begin. Exactly one of Attach, Detach,
// DetachController or Cancel must be called on it, once: until then,
// every event that began after it waits. A second call panics: an Event
// is used once and never reused. If the call's ctx ends before the
// event's turn, the event changes nothing, returns ctx's error and no
// longer holds back the events after it. A panic in a Hooks function is
// not recovered: the event's turn ends (the events after it go on) and
// the panic goes on up the caller's goroutine, as in complchain.Group.
type Event struct {
	entry complchain.Entry
	s     *Subsystem
	used  atomic.Bool
}

// Begin returns an event whose turn comes after every event begun
// before: call it where the order is decided (in list order, as a scan
// reads the NSID list), do slow work, then run the event.
func (s *Subsystem) Begin() *Event {
	e := &Event{s: s}
	s.chain.Add(&e.entry)
	return e
}

// Cancel gives up the event's turn without changing anything.
func (e *Event) Cancel() {
	e.use()
	e.entry.Complete()
}

// use marks the event used, and panics if it was.
func (e *Event) use() {
	if e.used.Swap(true) {
		panic("multipath: event used twice")
	}
}

// turn waits for the event's turn; on error the event is over.
func (e *Event) turn(ctx context.Context) error {
	e.use()
	if err := e.entry.Wait(ctx); err != nil {
		e.entry.Complete()
		return err
	}
	return nil
}

// Attach joins path p to the head of its NSID in its turn, creating the
// head (named by the policy, Hooks.AddDisk called) if the NSID has none.
// Attaching a controller's path again updates it. It returns the head,
// or ctx's error if ctx ends before the event's turn, an error for NSID
// 0 or FFFFFFFFh, an *IDMismatchError, ErrNotShared (wrapped), a
// *DuplicateIDError, ErrInstancesExhausted (wrapped) or the AddDisk
// error; then nothing changed.
func (e *Event) Attach(ctx context.Context, p Path) (Head, error) {
	if err := e.turn(ctx); err != nil {
		return Head{}, err
	}
	defer e.entry.Complete()
	return e.s.attach(ctx, p)
}

// Detach removes controller ctrl's path to nsid in its turn; if it was
// the head's last path, the head is removed (Hooks.DelDisk, then its
// number freed) before the turn ends. It reports whether the head was
// removed; the error is ctx's, or ErrNoPath (wrapped) if there was no
// such path.
func (e *Event) Detach(ctx context.Context, ctrl int, nsid uint32) (removed bool, err error) {
	if err := e.turn(ctx); err != nil {
		return false, err
	}
	defer e.entry.Complete()
	e.s.mu.Lock()
	h := e.s.heads[nsid]
	i := -1
	if h != nil {
		i = slices.IndexFunc(h.Paths, func(p Path) bool { return p.Controller == ctrl })
	}
	e.s.mu.Unlock()
	if i < 0 {
		return false, fmt.Errorf("%w: controller %d, NSID %d", ErrNoPath, ctrl, nsid)
	}
	return e.s.dropPath(ctx, h, ctrl), nil
}

// DetachController removes every path through controller ctrl in its
// turn, as when the controller is lost, and the heads left without
// paths, in NSID order. It returns the removed heads.
func (e *Event) DetachController(ctx context.Context, ctrl int) ([]Head, error) {
	if err := e.turn(ctx); err != nil {
		return nil, err
	}
	defer e.entry.Complete()
	e.s.mu.Lock()
	var hs []*Head
	for _, h := range e.s.heads {
		if slices.ContainsFunc(h.Paths, func(p Path) bool { return p.Controller == ctrl }) {
			hs = append(hs, h)
		}
	}
	e.s.mu.Unlock()
	slices.SortFunc(hs, func(a, b *Head) int { return cmp.Compare(a.NSID, b.NSID) })
	var removed []Head
	for _, h := range hs {
		if e.s.dropPath(ctx, h, ctrl) {
			removed = append(removed, h.clone())
		}
	}
	return removed, nil
}

// Attach begins an event and attaches p in its turn.
func (s *Subsystem) Attach(ctx context.Context, p Path) (Head, error) {
	return s.Begin().Attach(ctx, p)
}

// Detach begins an event and detaches controller ctrl's path to nsid in
// its turn.
func (s *Subsystem) Detach(ctx context.Context, ctrl int, nsid uint32) (bool, error) {
	return s.Begin().Detach(ctx, ctrl, nsid)
}

// DetachController begins an event and detaches every path through
// controller ctrl in its turn.
func (s *Subsystem) DetachController(ctx context.Context, ctrl int) ([]Head, error) {
	return s.Begin().DetachController(ctx, ctrl)
}

// Flush waits until every event begun before the call has run, or ctx
// ends.
func (s *Subsystem) Flush(ctx context.Context) error { return s.chain.Flush(ctx) }

// attach runs in the event's turn.
func (s *Subsystem) attach(ctx context.Context, p Path) (Head, error) {
	if p.NSID == 0 || p.NSID == nvme.NSIDAll {
		return Head{}, fmt.Errorf("multipath: %s: invalid NSID %#x", s.cfg.NQN, p.NSID)
	}
	s.mu.Lock()
	h := s.heads[p.NSID]
	if h != nil {
		defer s.mu.Unlock()
		if h.IDs != p.IDs {
			return Head{}, &IDMismatchError{SubsystemNQN: s.cfg.NQN, NSID: p.NSID, Controller: p.Controller, Head: h.IDs, Path: p.IDs}
		}
		i := slices.IndexFunc(h.Paths, func(q Path) bool { return q.Controller == p.Controller })
		switch {
		case i >= 0:
			h.Paths[i] = p
		case !h.Shared || !p.Shared:
			return Head{}, fmt.Errorf("%w: %s NSID %d on controllers %d and %d", ErrNotShared, s.cfg.NQN, p.NSID, h.Paths[0].Controller, p.Controller)
		default:
			i, _ = slices.BinarySearchFunc(h.Paths, p.Controller, func(q Path, c int) int { return cmp.Compare(q.Controller, c) })
			h.Paths = slices.Insert(h.Paths, i, p)
		}
		return h.clone(), nil
	}
	keys := idKeys(p.IDs)
	for _, k := range keys {
		if other, ok := s.ids[k]; ok {
			s.mu.Unlock()
			return Head{}, &DuplicateIDError{SubsystemNQN: s.cfg.NQN, NSID: p.NSID, Other: other, Identity: k}
		}
	}
	inst, err := s.allocate(p)
	s.mu.Unlock()
	if err != nil {
		return Head{}, err
	}
	h = &Head{SubsystemNQN: s.cfg.NQN, Subsystem: s.cfg.Instance, NSID: p.NSID, Instance: inst,
		IDs: p.IDs, Shared: p.Shared, Paths: []Path{p}}
	if add := s.cfg.Hooks.AddDisk; add != nil {
		if err := add(ctx, h.Name()); err != nil {
			s.mu.Lock()
			s.release(h)
			s.mu.Unlock()
			return Head{}, err
		}
	}
	s.mu.Lock()
	s.heads[p.NSID] = h
	for _, k := range keys {
		s.ids[k] = p.NSID
	}
	s.mu.Unlock()
	return h.clone(), nil
}

// allocate returns the instance of a new head for p, marked held. It is
// called with s.mu held.
func (s *Subsystem) allocate(p Path) (int, error) {
	var inst int
	switch s.cfg.Naming {
	case Index:
		inst = s.index.Get(1)
	case NSID:
		inst = int(p.NSID)
	case Persistent:
		var err error
		inst, err = s.cfg.Names.instance(s.cfg.NQN, Identity(p.NSID, p.IDs), func(i int) bool { _, ok := s.held[i]; return ok })
		if err != nil {
			return 0, err
		}
	}
	if other, ok := s.held[inst]; ok {
		// Not reached: each policy hands out instances no head holds.
		return 0, fmt.Errorf("multipath: instance %d of NSID %d already held by NSID %d", inst, p.NSID, other)
	}
	s.held[inst] = p.NSID
	return inst, nil
}

// release frees h's instance. It is called with s.mu held.
func (s *Subsystem) release(h *Head) {
	delete(s.held, h.Instance)
	if s.cfg.Naming == Index {
		s.index.Put(h.Instance)
	}
}

// dropPath removes ctrl's path from h and, if it was the last, removes h:
// DelDisk first, while h is still listed, then h and its instance. It
// runs in the event's turn and reports whether h was removed.
func (s *Subsystem) dropPath(ctx context.Context, h *Head, ctrl int) bool {
	s.mu.Lock()
	h.Paths = slices.DeleteFunc(h.Paths, func(p Path) bool { return p.Controller == ctrl })
	last := len(h.Paths) == 0
	s.mu.Unlock()
	if !last {
		return false
	}
	if del := s.cfg.Hooks.DelDisk; del != nil {
		del(context.WithoutCancel(ctx), h.Name())
	}
	s.mu.Lock()
	delete(s.heads, h.NSID)
	for _, k := range idKeys(h.IDs) {
		delete(s.ids, k)
	}
	s.release(h)
	s.mu.Unlock()
	return true
}

// Heads returns a copy of the subsystem's heads, by instance.
func (s *Subsystem) Heads() []Head {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs := make([]Head, 0, len(s.heads))
	for _, h := range s.heads {
		hs = append(hs, h.clone())
	}
	slices.SortFunc(hs, func(a, b Head) int { return cmp.Compare(a.Instance, b.Instance) })
	return hs
}

// Head returns a copy of the head of nsid, and whether there is one.
func (s *Subsystem) Head(nsid uint32) (Head, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.heads[nsid]; h != nil {
		return h.clone(), true
	}
	return Head{}, false
}

// SetANA sets the ANA state of each path through controller ctrl to
// the state log gives the path's ANA group; a path whose group the log
// does not list keeps its state. It returns the number of paths changed.
func (s *Subsystem) SetANA(ctrl int, log *nvme.ANALog) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.heads {
		for i := range h.Paths {
			p := &h.Paths[i]
			if p.Controller != ctrl {
				continue
			}
			if g := log.Group(p.ANAGRPID); g != nil && g.State != p.ANAState {
				p.ANAState = g.State
				n++
			}
		}
	}
	return n
}
