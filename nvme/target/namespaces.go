package target

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
)

// Namespace describes a namespace of a subsystem.
type Namespace struct {
	NSID uint32
	// Size is in bytes, a multiple of BlockSize, at most Backend.Size();
	// 0 means Backend.Size(), or DefaultNSSize with no Backend.
	Size      uint64
	BlockSize uint32 // 512 or 4096; 0 means 512
	// Backend holds the data; nil means sparse memory, lost on Detach.
	// See Backend for who closes it.
	Backend Backend
	NGUID   [16]byte
	EUI64   [8]byte
	UUID    [16]byte // all three derived from the NQN and NSID when zero
	// Omit lists identifiers the namespace does not have: they are left
	// out of the descriptor list (CNS 03h) and zero in Identify Namespace.
	// Zero lists identifiers reported as all-zero values: a descriptor of
	// zeros, and zero in Identify Namespace (hosts take both as absent).
	Omit, Zero IDs
	// ANAGRPID is the namespace's ANA group, 1..MaxANAGroups; 0 means 1,
	// as with Linux's nvmet. Each port gives each group a state
	// (PortConfig.ANAStates, Target.SetANAState).
	ANAGRPID uint32
}

// IDs is a set of namespace identifiers.
type IDs uint8

// Namespace identifiers, for Namespace.Omit and Namespace.Zero.
const (
	IDNGUID IDs = 1 << iota
	IDEUI64
	IDUUID
)

// namespace is an attached namespace with its storage.
type namespace struct {
	Namespace
	blocks uint64
	lbads  uint8
	data   Backend
	hidden map[uint16]bool // PORTIDs it is hidden from (SetVisible); guarded by Subsystem.mu
}

func (ns *namespace) info(shared bool) nsInfo {
	d, ok := ns.data.(Deallocator)
	return nsInfo{zeroes: ok && d.Deallocates(),
		active: true, blocks: ns.blocks, lbads: ns.lbads,
		nguid: ns.NGUID, eui64: ns.EUI64, uuid: ns.UUID, zero: ns.Zero, shared: shared, anagrpid: ns.ANAGRPID,
	}
}

// Attach adds a namespace to the subsystem and raises the namespace
// attribute changed event on the subsystem's controllers. Zero Size, BlockSize and
// identifiers take their defaults, but for those in Omit or Zero.
func (s *Subsystem) Attach(ns Namespace) error {
	if ns.BlockSize == 0 {
		ns.BlockSize = s.cfg.BlockSize
	}
	var have uint64 // bytes the backend holds
	if ns.Backend != nil {
		have = uint64(max(ns.Backend.Size(), 0))
		ns.Size = cmp.Or(ns.Size, have)
	}
	ns.Size = cmp.Or(ns.Size, s.cfg.NamespaceSize)
	if ns.ANAGRPID == 0 {
		ns.ANAGRPID = 1
	}
	switch {
	case ns.ANAGRPID > MaxANAGroups:
		return fmt.Errorf("%w: ANA group %d not in 1..%d", ErrInvalidNamespace, ns.ANAGRPID, MaxANAGroups)
	case ns.NSID == 0 || ns.NSID > s.cfg.MaxNSID:
		return fmt.Errorf("%w: NSID %d not in 1..%d", ErrInvalidNamespace, ns.NSID, s.cfg.MaxNSID)
	case ns.BlockSize != 512 && ns.BlockSize != 4096:
		return fmt.Errorf("%w: block size %d, want 512 or 4096", ErrInvalidNamespace, ns.BlockSize)
	case ns.Size%uint64(ns.BlockSize) != 0:
		return fmt.Errorf("%w: size %d not a multiple of the block size %d", ErrInvalidNamespace, ns.Size, ns.BlockSize)
	case ns.Backend != nil && ns.Size > have:
		return fmt.Errorf("%w: size %d beyond the %d bytes of the backend", ErrInvalidNamespace, ns.Size, have)
	case ns.Size > math.MaxInt64:
		return fmt.Errorf("%w: size %d beyond 2^63-1 bytes", ErrInvalidNamespace, ns.Size)
	}
	nguid, eui, uuid := deriveIDs(s.cfg.NQN, ns.NSID)
	if ns.NGUID == ([16]byte{}) {
		ns.NGUID = nguid
	}
	if ns.EUI64 == ([8]byte{}) {
		ns.EUI64 = eui
	}
	if ns.UUID == ([16]byte{}) {
		ns.UUID = uuid
	}
	if off := ns.Omit | ns.Zero; off != 0 {
		if off&IDNGUID != 0 {
			ns.NGUID = [16]byte{}
		}
		if off&IDEUI64 != 0 {
			ns.EUI64 = [8]byte{}
		}
		if off&IDUUID != 0 {
			ns.UUID = [16]byte{}
		}
	}
	n := &namespace{Namespace: ns, blocks: ns.Size / uint64(ns.BlockSize), data: ns.Backend}
	if n.data == nil {
		n.data = newMemory(int64(ns.Size))
	}
	for 1<<n.lbads < ns.BlockSize {
		n.lbads++
	}
	s.mu.Lock()
	if _, ok := s.ns[ns.NSID]; ok {
		s.mu.Unlock()
		return fmt.Errorf("%w: NSID %d", ErrNamespaceExists, ns.NSID)
	}
	s.ns[ns.NSID] = n
	i, _ := slices.BinarySearch(s.nsids, ns.NSID)
	s.nsids = slices.Insert(s.nsids, i, ns.NSID)
	s.mu.Unlock()
	s.notify(ns.NSID)
	return nil
}

// Detach removes a namespace and its data, and raises the namespace
// attribute changed event on the subsystem's controllers.
func (s *Subsystem) Detach(nsid uint32) error {
	s.mu.Lock()
	if _, ok := s.ns[nsid]; !ok {
		s.mu.Unlock()
		return fmt.Errorf("%w: NSID %d", ErrNoNamespace, nsid)
	}
	delete(s.ns, nsid)
	i, _ := slices.BinarySearch(s.nsids, nsid)
	s.nsids = slices.Delete(s.nsids, i, i+1)
	s.mu.Unlock()
	s.notify(nsid)
	return nil
}

// Namespaces returns the attached namespaces in NSID order.
func (s *Subsystem) Namespaces() []Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Namespace, 0, len(s.nsids))
	for _, id := range s.nsids {
		out = append(out, s.ns[id].Namespace)
	}
	return out
}

// WriteAt writes p into namespace nsid at byte offset off, as a Write
// command would; it returns the backend's error, if any.
func (s *Subsystem) WriteAt(nsid uint32, p []byte, off int64) error {
	ns, err := s.extent(nsid, "write", len(p), off)
	if err == nil {
		_, err = ns.data.WriteAt(p, off)
	}
	return err
}

// ReadAt reads len(p) bytes of namespace nsid at byte offset off; it
// returns the backend's error, if any.
func (s *Subsystem) ReadAt(nsid uint32, p []byte, off int64) error {
	ns, err := s.extent(nsid, "read", len(p), off)
	if err == nil {
		_, err = ns.data.ReadAt(p, off)
	}
	return err
}

// extent returns namespace nsid if n bytes at off lie within it.
func (s *Subsystem) extent(nsid uint32, op string, n int, off int64) (*namespace, error) {
	ns := s.namespace(nsid)
	if ns == nil {
		return nil, fmt.Errorf("%w: NSID %d", ErrNoNamespace, nsid)
	}
	if off < 0 || uint64(off)+uint64(n) > ns.Size {
		return nil, fmt.Errorf("%w: %s of %d bytes at %d beyond %d", ErrInvalidNamespace, op, n, off, ns.Size)
	}
	return ns, nil
}

func (s *Subsystem) namespace(nsid uint32) *namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ns[nsid]
}

// deriveIDs returns identifiers for a namespace that depend only on the
// subsystem NQN and the NSID, so they are stable across runs.
func deriveIDs(nqn string, nsid uint32) (nguid [16]byte, eui64 [8]byte, uuid [16]byte) {
	h := fnv.New64a()
	h.Write([]byte(nqn))
	sum := h.Sum64()
	be := binary.BigEndian
	be.PutUint64(nguid[0:], sum)
	be.PutUint32(nguid[12:], nsid)
	be.PutUint32(eui64[0:], uint32(sum>>32))
	be.PutUint32(eui64[4:], nsid)
	be.PutUint64(uuid[0:], sum)
	be.PutUint32(uuid[12:], nsid)
	uuid[6] = uuid[6]&0x0f | 0x80 // version 8: vendor-specific
	uuid[8] = uuid[8]&0x3f | 0x80 // RFC 4122 variant
	return
}
