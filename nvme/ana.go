package nvme

import (
	"encoding/binary"
	"fmt"
)

// LogANA is the log identifier of the Asymmetric Namespace Access log
// page (NVMe Base Specification, "Asymmetric Namespace Access Log").
const LogANA = 0x0c

// Sizes of the parts of the ANA log page: a 16-byte header (CHGCNT,
// NGRPS), then NGRPS group descriptors, each 32 bytes followed by NNSIDS
// 4-byte NSIDs.
const (
	ANALogHeaderSize       = 16
	ANAGroupDescriptorSize = 32
)

// CMICANA is the Identify Controller CMIC bit (bit 3) that says the
// controller reports Asymmetric Namespace Access: it has an ANA log page,
// and Identify Namespace ANAGRPID names each namespace's group.
const CMICANA = 1 << 3

// ANACAP bits of Identify Controller (byte 343): the ANA states the
// controller may report, and how ANA group IDs behave.
const (
	ANACAPOptimized      = 1 << 0 // reports the optimized state
	ANACAPNonOptimized   = 1 << 1 // reports the non-optimized state
	ANACAPInaccessible   = 1 << 2 // reports the inaccessible state
	ANACAPPersistentLoss = 1 << 3 // reports the persistent loss state
	ANACAPChange         = 1 << 4 // reports the change state
	ANACAPGRPIDNoChange  = 1 << 6 // a namespace's ANAGRPID does not change while it is attached
	ANACAPGRPIDNonZero   = 1 << 7 // ANAGRPID may be set by Namespace Management
)

// AsyncEventANAChange is the Asynchronous Event Configuration bit (Set
// Features, FID 0Bh, CDW11 bit 11) that enables "Asymmetric Namespace
// Access change" notices, and the Identify Controller OAES bit that says
// the controller sends them.
const AsyncEventANAChange = 1 << 11

// AsyncNoticeANAChange is the notice information (event type 2h) of an
// "Asymmetric Namespace Access change" event; its log page is LogANA.
const AsyncNoticeANAChange = 0x03

// ANAChange reports whether e is the "Asymmetric Namespace Access change"
// notice: the host reads the ANA log page to learn the new states.
func (e AsyncEvent) ANAChange() bool {
	return e.Type == AsyncTypeNotice && e.Info == AsyncNoticeANAChange
}

// ANAState is the Asymmetric Namespace Access state of a group, as
// reported through one controller (ANA group descriptor byte 16, bits
// 3:0).
type ANAState uint8

// ANA states. Other values are reserved.
const (
	ANAOptimized      ANAState = 0x01
	ANANonOptimized   ANAState = 0x02
	ANAInaccessible   ANAState = 0x03
	ANAPersistentLoss ANAState = 0x04
	ANAChange         ANAState = 0x0f
)

// String returns the name Linux shows in the ana_state sysfs attribute
// and nvme-cli in ANAState: "optimized", "non-optimized", "inaccessible",
// "persistent-loss", "change"; "invalid state" otherwise.
func (s ANAState) String() string {
	switch s {
	case ANAOptimized:
		return "optimized"
	case ANANonOptimized:
		return "non-optimized"
	case ANAInaccessible:
		return "inaccessible"
	case ANAPersistentLoss:
		return "persistent-loss"
	case ANAChange:
		return "change"
	}
	return "invalid state"
}

// Valid reports whether s is one of the five states the specification
// defines.
func (s ANAState) Valid() bool { return s.String() != "invalid state" }

// ParseANAState returns the state String names.
func ParseANAState(name string) (ANAState, error) {
	for _, s := range [...]ANAState{ANAOptimized, ANANonOptimized, ANAInaccessible, ANAPersistentLoss, ANAChange} {
		if s.String() == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("nvme: unknown ANA state %q (want optimized, non-optimized, inaccessible, persistent-loss or change)", name)
}

// ANAGroup is one ANA Group Descriptor of the ANA log page.
type ANAGroup struct {
	ANAGRPID uint32   // bytes 0-3: the group, not zero
	CHGCNT   uint64   // bytes 8-15: change count of this descriptor
	State    ANAState // byte 16, bits 3:0
	NSIDs    []uint32 // from byte 32, NNSIDS (bytes 4-7) entries; nil when the log was read with RGO
}

// ANALog is the Asymmetric Namespace Access log page (LogANA): what one
// controller reports of each ANA group it knows.
type ANALog struct {
	CHGCNT uint64 // bytes 0-7: change count of the log
	Groups []ANAGroup
}

// Size returns the length in bytes of the encoding of l.
func (l *ANALog) Size() int {
	n := ANALogHeaderSize
	for _, g := range l.Groups {
		n += ANAGroupDescriptorSize + 4*len(g.NSIDs)
	}
	return n
}

// AppendBinary appends the encoding of l to b: the header, with NGRPS
// len(l.Groups), then each descriptor with NNSIDS len(NSIDs). It returns an
// error, and appends nothing, if l has more than 65535 groups, a group has
// ANAGRPID zero, or a state that is not Valid.
func (l *ANALog) AppendBinary(b []byte) ([]byte, error) {
	if len(l.Groups) > 0xffff {
		return b, fmt.Errorf("nvme: ANA log with %d groups, NGRPS holds at most 65535", len(l.Groups))
	}
	for _, g := range l.Groups {
		if g.ANAGRPID == 0 || !g.State.Valid() {
			return b, fmt.Errorf("nvme: ANA group %d with state %#x cannot be encoded", g.ANAGRPID, uint8(g.State))
		}
	}
	b, p := grow(b, ANALogHeaderSize)
	le := binary.LittleEndian
	le.PutUint64(p[0:], l.CHGCNT)
	le.PutUint16(p[8:], uint16(len(l.Groups)))
	for _, g := range l.Groups {
		b, p = grow(b, ANAGroupDescriptorSize)
		le.PutUint32(p[0:], g.ANAGRPID)
		le.PutUint32(p[4:], uint32(len(g.NSIDs)))
		le.PutUint64(p[8:], g.CHGCNT)
		p[16] = uint8(g.State)
		for _, id := range g.NSIDs {
			b = le.AppendUint32(b, id)
		}
	}
	return b, nil
}

// UnmarshalBinary decodes an ANA log page of len(p) bytes, the length the
// host asked for. NGRPS and each NNSIDS come from the controller and are
// checked against what p holds before anything is allocated: the decoded
// log holds at most (len(p)-16)/32 groups and len(p)/4 NSIDs in all.
//
// It returns ErrShortBuffer (wrapped) if p is shorter than the header,
// and a *FieldError naming NGRPS or NNSIDS when the groups or NSIDs they
// count run past the end of p, ANAGRPID when a group is zero or listed
// twice, ANAS when a state is reserved, and NSID when an NSID is zero, the
// broadcast NSID, or listed in two groups: the checks Linux's
// nvme_parse_ana_log makes, and the uniqueness the specification
// requires. Bytes after the last group are ignored.
func (l *ANALog) UnmarshalBinary(p []byte) error {
	const s = "ANA log"
	if len(p) < ANALogHeaderSize {
		return fmt.Errorf("%w: ANA log header needs %d bytes, have %d", ErrShortBuffer, ANALogHeaderSize, len(p))
	}
	le := binary.LittleEndian
	ngrps := int(le.Uint16(p[8:]))
	if max := (len(p) - ANALogHeaderSize) / ANAGroupDescriptorSize; ngrps > max {
		return &FieldError{Structure: s, Field: "NGRPS", Value: uint64(ngrps),
			Reason: fmt.Sprintf("%d groups do not fit %d bytes (at most %d)", ngrps, len(p), max)}
	}
	*l = ANALog{CHGCNT: le.Uint64(p[0:]), Groups: make([]ANAGroup, 0, ngrps)}
	groups := make(map[uint32]bool, ngrps)
	nsids := make(map[uint32]uint32)
	off := ANALogHeaderSize
	for i := range ngrps {
		if len(p)-off < ANAGroupDescriptorSize {
			return &FieldError{Structure: s, Field: "NGRPS", Value: uint64(ngrps),
				Reason: fmt.Sprintf("group %d at offset %d runs past %d bytes", i, off, len(p))}
		}
		d := p[off:]
		g := ANAGroup{ANAGRPID: le.Uint32(d[0:]), CHGCNT: le.Uint64(d[8:]), State: ANAState(d[16] & 0xf)}
		n := uint64(le.Uint32(d[4:]))
		off += ANAGroupDescriptorSize
		switch {
		case g.ANAGRPID == 0:
			return &FieldError{Structure: s, Field: "ANAGRPID", Value: 0, Reason: fmt.Sprintf("group %d has ANA group ID 0", i)}
		case groups[g.ANAGRPID]:
			return &FieldError{Structure: s, Field: "ANAGRPID", Value: uint64(g.ANAGRPID), Reason: "group listed twice"}
		case !g.State.Valid():
			return &FieldError{Structure: s, Field: "ANAS", Value: uint64(d[16]), Reason: fmt.Sprintf("group %d: reserved ANA state", g.ANAGRPID)}
		case n > uint64(len(p)-off)/4:
			return &FieldError{Structure: s, Field: "NNSIDS", Value: n,
				Reason: fmt.Sprintf("group %d: %d NSIDs at offset %d run past %d bytes", g.ANAGRPID, n, off, len(p))}
		}
		groups[g.ANAGRPID] = true
		if n > 0 {
			g.NSIDs = make([]uint32, n)
		}
		for j := range g.NSIDs {
			id := le.Uint32(p[off:])
			off += 4
			if id == 0 || id == NSIDAll {
				return &FieldError{Structure: s, Field: "NSID", Value: uint64(id), Reason: fmt.Sprintf("group %d lists an invalid NSID", g.ANAGRPID)}
			}
			if other, ok := nsids[id]; ok {
				return &FieldError{Structure: s, Field: "NSID", Value: uint64(id), Reason: fmt.Sprintf("listed in groups %d and %d", other, g.ANAGRPID)}
			}
			nsids[id] = g.ANAGRPID
			g.NSIDs[j] = id
		}
		l.Groups = append(l.Groups, g)
	}
	return nil
}

// Group returns the descriptor of group id, or nil if the log has none.
func (l *ANALog) Group(id uint32) *ANAGroup {
	for i := range l.Groups {
		if l.Groups[i].ANAGRPID == id {
			return &l.Groups[i]
		}
	}
	return nil
}
