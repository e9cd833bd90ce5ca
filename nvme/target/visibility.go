package target

import (
	"fmt"
	"slices"
)

// SetVisible hides namespace nsid from the controllers of the port with
// PORTID portID (visible false), or shows it to them again (visible
// true), while hosts stay connected; the port need not be served yet.
// A namespace is visible through every port when attached; Detach
// forgets where it was hidden.
//
// To a controller of that port a hidden namespace is an inactive NSID,
// as if detached from the controller with Namespace Attachment (NVMe
// Base 2.0, 8.1.12): it leaves the Identify Active Namespace ID list (CNS
// 02h) and the ANA log (5.16.1.12), Identify Namespace returns zeros,
// and I/O commands to it fail with Invalid Namespace or Format. The ANA
// Inaccessible status is not used: it keeps the NSID active, which Linux
// takes as a path that may come back, not as a path gone. A change
// appends nsid to the Changed Namespace List (log 04h) of the port's
// controllers only and raises the Namespace Attribute Changed notice on
// them; setting the state a namespace already has changes nothing.
//
// It returns ErrNoNamespace if nsid is not attached.
func (s *Subsystem) SetVisible(nsid uint32, portID uint16, visible bool) error {
	s.mu.Lock()
	ns := s.ns[nsid]
	if ns == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: NSID %d", ErrNoNamespace, nsid)
	}
	if ns.hidden[portID] == !visible {
		s.mu.Unlock()
		return nil
	}
	if visible {
		delete(ns.hidden, portID)
	} else {
		if ns.hidden == nil {
			ns.hidden = make(map[uint16]bool)
		}
		ns.hidden[portID] = true
	}
	s.mu.Unlock()
	for _, c := range s.t.controllers(s) {
		if c.port != nil && c.port.id == portID {
			c.namespaceChanged(nsid)
		}
	}
	return nil
}

// SetVisible calls SetVisible on the Target's first subsystem.
func (t *Target) SetVisible(nsid uint32, portID uint16, visible bool) error {
	return t.subs[0].SetVisible(nsid, portID, visible)
}

// visibleLocked reports whether ns is visible to c; c.sub.mu is held.
func (c *controller) visibleLocked(ns *namespace) bool {
	return c.port == nil || !ns.hidden[c.port.id]
}

// namespace returns namespace nsid if it is active on c, or nil.
func (c *controller) namespace(nsid uint32) *namespace {
	c.sub.mu.RLock()
	defer c.sub.mu.RUnlock()
	if ns := c.sub.ns[nsid]; ns != nil && c.visibleLocked(ns) {
		return ns
	}
	return nil
}

// activeAfter returns up to n NSIDs greater than after that are active on
// c, in order.
func (c *controller) activeAfter(after uint32, n int) []uint32 {
	s := c.sub
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, found := slices.BinarySearch(s.nsids, after)
	if found {
		i++
	}
	var out []uint32
	for _, id := range s.nsids[i:] {
		if len(out) == n {
			break
		}
		if c.visibleLocked(s.ns[id]) {
			out = append(out, id)
		}
	}
	return out
}
