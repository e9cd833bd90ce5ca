package scan

import (
	"cmp"
	"slices"
	"strconv"
)

// Namespaces returns the registered namespaces ordered by NSID.
func (s *Scanner) Namespaces() []*Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Namespace, 0, len(s.ns))
	for _, ns := range s.ns {
		out = append(out, ns)
	}
	slices.SortFunc(out, func(a, b *Namespace) int { return cmp.Compare(a.NSID, b.NSID) })
	return out
}

func (s *Scanner) knownNSIDs() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]uint32, 0, len(s.ns))
	for id := range s.ns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// registered returns the namespace of t registered before the scan, or
// nil for a new one: the list knows which NSIDs were registered, so a new
// namespace costs no lookup under s.mu.
func (t *task) registered(s *Scanner) *Namespace {
	if !t.known {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ns[t.nsid]
}

// registerInOrder registers ns, the next namespace in registration
// order: at once, or, while ControllerReady is open, once it is closed,
// without waiting for it.
func (r *run) registerInOrder(ns *Namespace) {
	if r.regDone == nil {
		r.s.register(r, ns)
		return
	}
	r.regMu.Lock()
	defer r.regMu.Unlock()
	if !r.regOpen {
		r.regPending = append(r.regPending, ns)
		return
	}
	r.s.register(r, ns)
}

// registerWhenReady waits for ControllerReady, then registers what waits
// in regPending, in order, before any later namespace.
func (r *run) registerWhenReady() {
	defer close(r.regDone)
	<-r.s.ControllerReady
	r.regMu.Lock()
	defer r.regMu.Unlock()
	for _, ns := range r.regPending {
		r.s.register(r, ns)
	}
	r.regPending, r.regOpen = nil, true
}

// register names ns and adds it to the registered namespaces; the
// controller's number is read now.
func (s *Scanner) register(r *run, ns *Namespace) {
	s.mu.Lock()
	ns.Instance = s.instances.Get(1)
	suffix := ns.Instance
	if s.Naming == NSID {
		suffix = int(ns.NSID)
	}
	// "nvme<ctrl>n<suffix>ng<ctrl>n<suffix>", cut in two: one allocation.
	var buf [64]byte
	b := strconv.AppendInt(append(buf[:0], "nvme"...), int64(s.Controller), 10)
	b = strconv.AppendInt(append(b, 'n'), int64(suffix), 10)
	k := len(b)
	b = append(append(b, "ng"...), b[len("nvme"):k]...)
	names := string(b)
	ns.Name, ns.Generic = names[:k], names[k:]
	s.ns[ns.NSID] = ns
	s.mu.Unlock()
	r.mu.Lock()
	r.res.Added = append(r.res.Added, ns)
	r.mu.Unlock()
	if s.Registered != nil {
		s.Registered(ns)
	}
}

// remove unregisters nsids and frees their instances.
func (s *Scanner) remove(r *run, nsids []uint32) {
	var gone []*Namespace
	s.mu.Lock()
	for _, id := range nsids {
		if ns := s.ns[id]; ns != nil {
			delete(s.ns, id)
			s.instances.Put(ns.Instance)
			gone = append(gone, ns)
		}
	}
	s.mu.Unlock()
	r.mu.Lock()
	r.res.Removed = append(r.res.Removed, gone...)
	r.mu.Unlock()
}
