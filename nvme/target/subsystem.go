package target

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Subsystem is one NVM subsystem of a Target: its namespaces, faults and
// allowed hosts.
// Target.Subsystem and Target.Subsystems return it; its methods are safe
// for concurrent use.
type Subsystem struct {
	t      *Target
	cfg    SubsystemConfig // defaults filled in
	faults atomic.Pointer[Faults]
	access hostSet // guarded by t.mu

	mu    sync.RWMutex
	ns    map[uint32]*namespace
	nsids []uint32 // sorted active NSIDs
}

// newSubsystem returns the subsystem of sc, defaults filled in, with its
// namespaces attached; field names sc in errors.
func newSubsystem(t *Target, sc SubsystemConfig, field string) (*Subsystem, error) {
	sc.setDefaults()
	if err := sc.check(field); err != nil {
		return nil, err
	}
	s := &Subsystem{t: t, cfg: sc, ns: make(map[uint32]*namespace)}
	s.access.any = len(sc.AllowedHosts) == 0
	s.access.hosts = make(map[string]bool, len(sc.AllowedHosts))
	for _, h := range sc.AllowedHosts {
		s.access.hosts[h] = true
	}
	s.faults.Store(&sc.Faults)
	for id := 1; id <= sc.Namespaces; id++ {
		if err := s.Attach(Namespace{NSID: uint32(id)}); err != nil {
			return nil, err
		}
	}
	for i, ns := range sc.NamespaceList {
		if err := s.Attach(ns); err != nil {
			return nil, fmt.Errorf("%w: %sNamespaceList[%d]: %w", ErrInvalidConfig, field, i, err)
		}
	}
	return s, nil
}

// NQN returns the subsystem NQN.
func (s *Subsystem) NQN() string { return s.cfg.NQN }

// SetFaults replaces the faults injected on the subsystem's controllers
// besides the Target's (Config.Faults, Target.SetFaults); commands
// received afterwards see the new ones. DropAfter and MalformedAfter are
// ignored: they concern connections.
func (s *Subsystem) SetFaults(f Faults) { s.faults.Store(&f) }

// notify reports a change of namespace nsid to the subsystem's
// controllers.
func (s *Subsystem) notify(nsid uint32) {
	for _, c := range s.t.controllers(s) {
		c.namespaceChanged(nsid)
	}
}

// Subsystem returns the NVM subsystem named nqn, or nil if the Target
// does not serve it.
func (t *Target) Subsystem(nqn string) *Subsystem { return t.byNQN[nqn] }

// Subsystems returns the NVM subsystems in the order of Config.Subsystems.
func (t *Target) Subsystems() []*Subsystem { return slices.Clone(t.subs) }

// NQN returns the NQN of the first subsystem.
func (t *Target) NQN() string { return t.subs[0].cfg.NQN }

// Attach attaches a namespace to the first subsystem: see Subsystem.Attach.
func (t *Target) Attach(ns Namespace) error { return t.subs[0].Attach(ns) }

// Detach detaches a namespace of the first subsystem: see Subsystem.Detach.
func (t *Target) Detach(nsid uint32) error { return t.subs[0].Detach(nsid) }

// Namespaces returns the namespaces of the first subsystem in NSID order.
func (t *Target) Namespaces() []Namespace { return t.subs[0].Namespaces() }

// WriteAt writes to a namespace of the first subsystem: see
// Subsystem.WriteAt.
func (t *Target) WriteAt(nsid uint32, p []byte, off int64) error {
	return t.subs[0].WriteAt(nsid, p, off)
}

// ReadAt reads from a namespace of the first subsystem: see
// Subsystem.ReadAt.
func (t *Target) ReadAt(nsid uint32, p []byte, off int64) error {
	return t.subs[0].ReadAt(nsid, p, off)
}
