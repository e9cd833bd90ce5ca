package target

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/complchain/complchain/nvme"
)

// This file is Asymmetric Namespace Access, as Linux's nvmet does it: each
// namespace belongs to an ANA group (Namespace.ANAGRPID, default 1), and
// each port gives each group a state; a controller reports the states of
// the port its admin queue came through.

// ANA limits and what Identify Controller reports, as Linux's nvmet.
const (
	// MaxANAGroups is the largest ANA group ID (ANAGRPMAX, NANAGRPID),
	// NVMET_MAX_ANAGRPS.
	MaxANAGroups      = 128
	anaTransitionTime = 10   // ANATT, seconds
	anaCapabilities   = 0x1f // ANACAP: reports each of the five states
	// maxMNAN bounds Identify Controller MNAN, from which hosts size the
	// ANA log (16 + 32×NANAGRPID + 4×MNAN bytes): 65536 keeps it under
	// 264 KiB, below MDTS.
	maxMNAN = 65536

	aenResultANAChange = nvme.AsyncTypeNotice | nvme.AsyncNoticeANAChange<<8 | nvme.LogANA<<16
)

// anaStates are the states a port gives ANA groups, and the change count
// of the ANA log read through it.
type anaStates struct {
	mu     sync.Mutex                               // serialises changes, guards chgcnt
	m      atomic.Pointer[map[uint32]nvme.ANAState] // groups not optimized; replaced, never changed
	chgcnt uint64
}

// states returns the groups not optimized, to read only: one atomic load,
// no lock, for every I/O command.
func (a *anaStates) states() map[uint32]nvme.ANAState {
	if m := a.m.Load(); m != nil {
		return *m
	}
	return nil
}

// checkANAStates refuses groups outside 1..MaxANAGroups and reserved
// states.
func checkANAStates(m map[uint32]nvme.ANAState) error {
	for _, g := range slices.Sorted(maps.Keys(m)) {
		if err := checkANAState(g, m[g]); err != nil {
			return fmt.Errorf("%w: PortConfig.ANAStates: %w", ErrInvalidConfig, err)
		}
	}
	return nil
}

func checkANAState(grpid uint32, s nvme.ANAState) error {
	switch {
	case grpid == 0 || grpid > MaxANAGroups:
		return fmt.Errorf("ANA group %d not in 1..%d", grpid, MaxANAGroups)
	case !s.Valid():
		return fmt.Errorf("ANA group %d: reserved state %#x", grpid, uint8(s))
	}
	return nil
}

// ANAState returns the state of ANA group grpid through the port:
// optimized unless PortConfig.ANAStates or Target.SetANAState said
// otherwise.
func (p *Port) ANAState(grpid uint32) nvme.ANAState {
	if s, ok := p.ana.states()[grpid]; ok {
		return s
	}
	return nvme.ANAOptimized
}

// SetANAState sets the state of ANA group grpid (1..MaxANAGroups) through
// port portID, and raises the ANA change notice on every controller
// connected through that port that enabled it (Asynchronous Event
// Configuration bit 11), as writing a port's ana_state in Linux's nvmet
// configfs does. It returns an error wrapping ErrInvalidConfig for a port
// not served, a group out of range or a reserved state.
func (t *Target) SetANAState(portID uint16, grpid uint32, s nvme.ANAState) error {
	if err := checkANAState(grpid, s); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	t.mu.RLock()
	p := t.ports[portID]
	t.mu.RUnlock()
	if p == nil {
		return fmt.Errorf("%w: no port %d", ErrInvalidConfig, portID)
	}
	p.ana.mu.Lock()
	m := maps.Clone(p.ana.states()) // at most MaxANAGroups entries
	if m == nil {
		m = make(map[uint32]nvme.ANAState)
	}
	m[grpid] = s
	p.ana.m.Store(&m)
	p.ana.chgcnt++
	p.ana.mu.Unlock()
	for _, sub := range t.Subsystems() {
		for _, c := range t.controllers(sub) {
			if c.port == p {
				c.anaChanged()
			}
		}
	}
	return nil
}

// anaChanged reports an ANA change to the host if it enabled the notice.
func (c *controller) anaChanged() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aenCfg&nvme.AsyncEventANAChange != 0 {
		c.ana = true
		c.deliverLocked()
	}
}

// anaLog returns the ANA log page (0Ch) of c: a descriptor for group 1,
// each group of a namespace of the subsystem and each group the port
// gives a state, in group order, with the port's states and, unless rgo
// (Return Groups Only, LSP bit 0) is set, the NSIDs of each group. Unless
// rae is set it re-arms the ANA change notice.
func (c *controller) anaLog(rgo, rae bool) []byte {
	p := c.port
	groups := map[uint32][]uint32{1: nil}
	c.sub.mu.RLock()
	for _, id := range c.sub.nsids {
		if !c.visibleLocked(c.sub.ns[id]) {
			continue
		}
		g := c.sub.ns[id].ANAGRPID
		groups[g] = append(groups[g], id)
	}
	c.sub.mu.RUnlock()
	p.ana.mu.Lock()
	log := nvme.ANALog{CHGCNT: p.ana.chgcnt}
	states := p.ana.states()
	for g := range states {
		if _, ok := groups[g]; !ok {
			groups[g] = nil
		}
	}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		d := nvme.ANAGroup{ANAGRPID: g, CHGCNT: p.ana.chgcnt, State: nvme.ANAOptimized}
		if s, ok := states[g]; ok {
			d.State = s
		}
		if !rgo {
			d.NSIDs = groups[g]
		}
		log.Groups = append(log.Groups, d)
	}
	p.ana.mu.Unlock()
	b, _ := log.AppendBinary(nil) // groups and states checked when set
	if !rae {
		c.mu.Lock()
		c.anaMask = false
		c.deliverLocked()
		c.mu.Unlock()
	}
	return b
}

// anaStatus returns the status of an I/O command on a namespace whose ANA
// group is in state s through the controller's port, as Linux's
// nvmet_check_ana_state: 0 for optimized and non-optimized.
func anaStatus(s nvme.ANAState) nvme.Status {
	switch s {
	case nvme.ANAInaccessible:
		return nvme.StatusANAInaccessible
	case nvme.ANAPersistentLoss:
		return nvme.StatusANAPersistentLoss
	case nvme.ANAChange:
		return nvme.StatusANATransition
	}
	return 0
}
