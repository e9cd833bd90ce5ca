package nvme

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/complchain/complchain/internal/ascii"
)

// IdentifySize is the size in bytes of every Identify data structure.
const IdentifySize = 4096

// CNS is the Controller or Namespace Structure an Identify command returns
// (CDW10 bits 7:0).
type CNS uint8

// Identify CNS values.
const (
	CNSNamespace        CNS = 0x00 // Identify Namespace (NVM command set)
	CNSController       CNS = 0x01 // Identify Controller
	CNSActiveNamespaces CNS = 0x02 // active NSID list, NSIDs greater than CDW1 NSID
	CNSNSDescriptors    CNS = 0x03 // Namespace Identification Descriptor list
	CNSCSNamespace      CNS = 0x05 // I/O Command Set specific Identify Namespace (CDW11 CSI)
	CNSCSController     CNS = 0x06 // I/O Command Set specific Identify Controller (CDW11 CSI)
	CNSCSIndependentNS  CNS = 0x08 // I/O Command Set Independent Identify Namespace
	NSIDsPerList            = IdentifySize / 4
	NSIDAll                 = 0xffffffff // the broadcast NSID
)

// IdentifyCommand returns an Identify command for cns about nsid. For
// CNSActiveNamespaces, nsid is the NSID the list starts after.
func IdentifyCommand(cns CNS, nsid uint32) Command {
	return Command{Opcode: OpIdentify, NSID: nsid, CDW10: uint32(cns)}
}

// IdentifyCNS returns the CNS of an Identify command.
func (c *Command) IdentifyCNS() CNS { return CNS(c.CDW10) }

// IdentifyController holds the fields of the Identify Controller data
// structure (CNS 01h) that hosts use, Linux's among them; offsets are those
// of the NVMe Base Specification. The fields not listed are zero, but SQES
// and CQES (bytes 512 and 513), which AppendBinary writes as 66h and 44h:
// 64- and 16-byte entries, the sizes NVMe over Fabrics requires.
type IdentifyController struct {
	VID, SSVID   uint16 // bytes 0, 2
	SerialNumber string // SN, bytes 4-23, ASCII space padded
	ModelNumber  string // MN, bytes 24-63
	Firmware     string // FR, bytes 64-71
	RAB          uint8  // byte 72: recommended arbitration burst, 2^n commands
	CMIC         uint8  // byte 76: bit 1, the subsystem may have two or more controllers; bit 3, ANA reporting (CMICANA)
	MDTS         uint8  // byte 77: maximum data transfer size, 2^n minimum pages
	CNTLID       uint16 // bytes 78-79
	Version      uint32 // VER, bytes 80-83
	OAES         uint32 // bytes 92-95: optional asynchronous events supported
	CTRATT       uint32 // bytes 96-99
	CNTRLTYPE    uint8  // byte 111: 1 I/O, 2 discovery, 3 administrative
	ACL          uint8  // byte 258: abort command limit, 0's based
	AERL         uint8  // byte 259: async event request limit, 0's based
	FRMW         uint8  // byte 260: firmware updates (bit 0, slot 1 read only)
	LPA          uint8  // byte 261: log page attributes (bit 2, extended data for Get Log Page)
	WCTEMP       uint16 // bytes 266-267: warning composite temperature threshold, Kelvin
	CCTEMP       uint16 // bytes 268-269: critical composite temperature threshold, Kelvin
	KAS          uint16 // bytes 320-321: keep alive granularity, 100 ms units
	ANATT        uint8  // byte 342: ANA transition time, seconds
	ANACAP       uint8  // byte 343: ANA capabilities (ANACAP* bits)
	ANAGRPMAX    uint32 // bytes 344-347: largest ANA group ID
	NANAGRPID    uint32 // bytes 348-351: number of ANA group IDs the controller supports
	MAXCMD       uint16 // bytes 514-515
	NN           uint32 // bytes 516-519: number of namespaces (largest NSID)
	ONCS         uint16 // bytes 520-521: optional NVM commands supported (ONCSDatasetManagement, ONCSWriteZeroes)
	VWC          uint8  // byte 525: bit 0, a volatile write cache is present
	SGLS         uint32 // bytes 536-539
	MNAN         uint32 // bytes 540-543: maximum number of allowed namespaces; Linux requires it with ANA
	SubNQN       string // bytes 768-1023, NUL padded
	IOCCSZ       uint32 // bytes 1792-1795: I/O queue command capsule size, 16-byte units
	IORCSZ       uint32 // bytes 1796-1799
	ICDOFF       uint16 // bytes 1800-1801
	MSDBD        uint8  // byte 1803: maximum SGL data block descriptors
	PS0MaxPower  uint16 // bytes 2048-2049: MP of power state descriptor 0, 0.01 W units
}

// AppendBinary appends the 4096-byte encoding of id to b.
func (id *IdentifyController) AppendBinary(b []byte) ([]byte, error) {
	b, p := grow(b, IdentifySize)
	le := binary.LittleEndian
	le.PutUint16(p[0:], id.VID)
	le.PutUint16(p[2:], id.SSVID)
	ascii.Pad(p[4:24], id.SerialNumber)
	ascii.Pad(p[24:64], id.ModelNumber)
	ascii.Pad(p[64:72], id.Firmware)
	p[72], p[76], p[77] = id.RAB, id.CMIC, id.MDTS
	le.PutUint16(p[78:], id.CNTLID)
	le.PutUint32(p[80:], id.Version)
	le.PutUint32(p[92:], id.OAES)
	le.PutUint32(p[96:], id.CTRATT)
	p[111] = id.CNTRLTYPE
	p[258], p[259], p[260], p[261] = id.ACL, id.AERL, id.FRMW, id.LPA
	le.PutUint16(p[266:], id.WCTEMP)
	le.PutUint16(p[268:], id.CCTEMP)
	le.PutUint16(p[320:], id.KAS)
	p[342], p[343] = id.ANATT, id.ANACAP
	le.PutUint32(p[344:], id.ANAGRPMAX)
	le.PutUint32(p[348:], id.NANAGRPID)
	p[512], p[513] = 0x66, 0x44 // SQES, CQES: 64- and 16-byte entries
	le.PutUint16(p[514:], id.MAXCMD)
	le.PutUint32(p[516:], id.NN)
	le.PutUint16(p[520:], id.ONCS)
	p[525] = id.VWC
	le.PutUint32(p[536:], id.SGLS)
	le.PutUint32(p[540:], id.MNAN)
	copy(p[768:1024], id.SubNQN)
	le.PutUint32(p[1792:], id.IOCCSZ)
	le.PutUint32(p[1796:], id.IORCSZ)
	le.PutUint16(p[1800:], id.ICDOFF)
	p[1803] = id.MSDBD
	le.PutUint16(p[2048:], id.PS0MaxPower)
	return b, nil
}

// UnmarshalBinary decodes an Identify Controller data structure.
func (id *IdentifyController) UnmarshalBinary(p []byte) error {
	if len(p) < IdentifySize {
		return fmt.Errorf("%w: Identify Controller needs %d bytes, have %d", ErrShortBuffer, IdentifySize, len(p))
	}
	le := binary.LittleEndian
	*id = IdentifyController{
		VID: le.Uint16(p[0:]), SSVID: le.Uint16(p[2:]),
		SerialNumber: ascii.Trim(p[4:24]), ModelNumber: ascii.Trim(p[24:64]), Firmware: ascii.Trim(p[64:72]),
		RAB: p[72], CMIC: p[76], MDTS: p[77], CNTLID: le.Uint16(p[78:]), Version: le.Uint32(p[80:]),
		OAES: le.Uint32(p[92:]), CTRATT: le.Uint32(p[96:]), CNTRLTYPE: p[111],
		ACL: p[258], AERL: p[259], FRMW: p[260], LPA: p[261], WCTEMP: le.Uint16(p[266:]), CCTEMP: le.Uint16(p[268:]),
		KAS: le.Uint16(p[320:]), ANATT: p[342], ANACAP: p[343], ANAGRPMAX: le.Uint32(p[344:]), NANAGRPID: le.Uint32(p[348:]),
		MAXCMD: le.Uint16(p[514:]), NN: le.Uint32(p[516:]), ONCS: le.Uint16(p[520:]), VWC: p[525],
		SGLS: le.Uint32(p[536:]), MNAN: le.Uint32(p[540:]), SubNQN: cstring(p[768:1024]),
		IOCCSZ: le.Uint32(p[1792:]), IORCSZ: le.Uint32(p[1796:]), ICDOFF: le.Uint16(p[1800:]), MSDBD: p[1803],
		PS0MaxPower: le.Uint16(p[2048:]),
	}
	return nil
}

// LBA data sizes a namespace may have, as LBADS (log2 of bytes): the NVM
// Command Set Specification allows nothing below 512 bytes, and Linux's
// block layer nothing above 64 KiB (BLK_MAX_BLOCK_SIZE).
const (
	MinLBADS = 9
	MaxLBADS = 16
)

// MaxLBAFormats is the number of LBA Format Data Structures Identify
// Namespace holds (bytes 128-383); NLBAF, 0's based, is at most 63.
const MaxLBAFormats = 64

// LBAFormat is one LBA Format Data Structure of Identify Namespace.
type LBAFormat struct {
	MetadataSize uint16 // MS
	DataShift    uint8  // LBADS: the LBA data size is 1 << DataShift bytes
	Performance  uint8  // RP, 2 bits
}

// IdentifyNamespace holds the fields of the Identify Namespace data
// structure (CNS 00h, NVM command set) that hosts use.
type IdentifyNamespace struct {
	NSZE, NCAP, NUSE uint64 // bytes 0, 8, 16: size, capacity, utilisation in logical blocks
	NSFEAT           uint8  // byte 24
	NLBAF            uint8  // byte 25: number of LBA formats, 0's based
	FLBAS            uint8  // byte 26: formatted LBA size (index in bits 3:0, and 6:5 above 16 formats)
	NMIC             uint8  // byte 30: bit 0, may be attached to several controllers
	DLFEAT           uint8  // byte 33: deallocate logical block features (DLFEATZeroes, DLFEATWriteZeroesDeallocate)
	NSATTR           uint8  // byte 99: bit 0, write protected
	ANAGRPID         uint32 // bytes 92-95
	NGUID            [16]byte
	EUI64            [8]byte
	LBAF             [MaxLBAFormats]LBAFormat // bytes 128-383
}

// FormatIndex returns the index of the formatted LBA format: FLBAS bits
// 3:0, and bits 6:5 as the index's bits 5:4 when the namespace has more
// than 16 formats (NLBAF above 16, as Linux's nvme_lbaf_index reads it).
func (ns *IdentifyNamespace) FormatIndex() uint8 {
	i := ns.FLBAS & 0xf
	if ns.NLBAF > 16 {
		i |= (ns.FLBAS & 0x60) >> 1
	}
	return i
}

// BlockSize returns the size in bytes of the namespace's formatted logical
// block, or 0 if Validate would refuse the format (FLBAS beyond NLBAF, an
// LBA data size outside 2^MinLBADS..2^MaxLBADS).
func (ns *IdentifyNamespace) BlockSize() uint32 {
	i := ns.FormatIndex()
	if ns.NLBAF >= MaxLBAFormats || i > ns.NLBAF {
		return 0
	}
	if d := ns.LBAF[i].DataShift; d >= MinLBADS && d <= MaxLBADS {
		return 1 << d
	}
	return 0
}

// Validate checks the fields a host uses to register a namespace against
// the NVM Command Set Specification (Identify Namespace, CNS 00h) and
// returns a *FieldError for the first that holds no usable value: NLBAF
// above 63, FLBAS naming a format beyond NLBAF, an LBA data size (LBADS)
// below 512 bytes or above 64 KiB, NCAP above NSZE, NUSE above NCAP, or
// NSZE blocks that do not fit 2^64 bytes. The zero data of an inactive
// NSID passes the size checks and fails on LBADS.
func (ns *IdentifyNamespace) Validate() error {
	const s = "Identify Namespace"
	if ns.NLBAF >= MaxLBAFormats {
		return &FieldError{Structure: s, Field: "NLBAF", Value: uint64(ns.NLBAF), Reason: "more than 64 LBA formats"}
	}
	i := ns.FormatIndex()
	if i > ns.NLBAF {
		return &FieldError{Structure: s, Field: "FLBAS", Value: uint64(ns.FLBAS), Reason: fmt.Sprintf("format %d beyond NLBAF %d", i, ns.NLBAF)}
	}
	d := ns.LBAF[i].DataShift
	if d < MinLBADS || d > MaxLBADS {
		return &FieldError{Structure: s, Field: fmt.Sprintf("LBAF%d.LBADS", i), Value: uint64(d),
			Reason: fmt.Sprintf("LBA data size 2^%d not in 2^%d..2^%d bytes", d, MinLBADS, MaxLBADS)}
	}
	switch {
	case ns.NSZE > math.MaxUint64>>d:
		return &FieldError{Structure: s, Field: "NSZE", Value: ns.NSZE, Reason: fmt.Sprintf("%d blocks of 2^%d bytes overflow 64 bits", ns.NSZE, d)}
	case ns.NCAP > ns.NSZE:
		return &FieldError{Structure: s, Field: "NCAP", Value: ns.NCAP, Reason: fmt.Sprintf("above NSZE %d", ns.NSZE)}
	case ns.NUSE > ns.NCAP:
		return &FieldError{Structure: s, Field: "NUSE", Value: ns.NUSE, Reason: fmt.Sprintf("above NCAP %d", ns.NCAP)}
	}
	return nil
}

// A FieldError is a field of a data structure read from a controller
// whose value the NVMe specifications do not allow, or that a host cannot
// use. Match it with errors.As.
type FieldError struct {
	Structure string // e.g. "Identify Namespace"
	Field     string // the specification's name, e.g. "FLBAS"
	Value     uint64
	Reason    string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("nvme: %s %s %#x: %s", e.Structure, e.Field, e.Value, e.Reason)
}

// AppendBinary appends the 4096-byte encoding of ns to b.
func (ns *IdentifyNamespace) AppendBinary(b []byte) ([]byte, error) {
	b, p := grow(b, IdentifySize)
	le := binary.LittleEndian
	le.PutUint64(p[0:], ns.NSZE)
	le.PutUint64(p[8:], ns.NCAP)
	le.PutUint64(p[16:], ns.NUSE)
	p[24], p[25], p[26], p[30], p[33] = ns.NSFEAT, ns.NLBAF, ns.FLBAS, ns.NMIC, ns.DLFEAT
	le.PutUint32(p[92:], ns.ANAGRPID)
	p[99] = ns.NSATTR
	copy(p[104:120], ns.NGUID[:])
	copy(p[120:128], ns.EUI64[:])
	for i, f := range ns.LBAF {
		le.PutUint32(p[128+4*i:], uint32(f.MetadataSize)|uint32(f.DataShift)<<16|uint32(f.Performance&3)<<24)
	}
	return b, nil
}

// UnmarshalBinary decodes an Identify Namespace data structure.
func (ns *IdentifyNamespace) UnmarshalBinary(p []byte) error {
	if len(p) < IdentifySize {
		return fmt.Errorf("%w: Identify Namespace needs %d bytes, have %d", ErrShortBuffer, IdentifySize, len(p))
	}
	le := binary.LittleEndian
	*ns = IdentifyNamespace{
		NSZE: le.Uint64(p[0:]), NCAP: le.Uint64(p[8:]), NUSE: le.Uint64(p[16:]),
		NSFEAT: p[24], NLBAF: p[25], FLBAS: p[26], NMIC: p[30], DLFEAT: p[33],
		ANAGRPID: le.Uint32(p[92:]), NSATTR: p[99],
	}
	copy(ns.NGUID[:], p[104:120])
	copy(ns.EUI64[:], p[120:128])
	for i := range ns.LBAF {
		v := le.Uint32(p[128+4*i:])
		ns.LBAF[i] = LBAFormat{MetadataSize: uint16(v), DataShift: uint8(v >> 16), Performance: uint8(v>>24) & 3}
	}
	return nil
}

// Namespace Identification Descriptor types (NIDT).
const (
	NIDTEUI64 = 0x1 // 8 bytes
	NIDTNGUID = 0x2 // 16 bytes
	NIDTUUID  = 0x3 // 16 bytes
	NIDTCSI   = 0x4 // 1 byte
)

// NSIdentifiers are a namespace's identifiers, as reported by the
// Namespace Identification Descriptor list (CNS 03h). Absent identifiers
// are zero.
type NSIdentifiers struct {
	EUI64  [8]byte
	NGUID  [16]byte
	UUID   [16]byte
	CSI    uint8
	HasCSI bool
}

// AppendBinary appends the descriptor list for ids, padded to 4096 bytes.
// Zero identifiers are left out.
func (ids *NSIdentifiers) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b = ids.AppendDescriptors(b)
	return append(b, make([]byte, IdentifySize-(len(b)-start))...), nil
}

// AppendDescriptors appends the descriptors of ids to b, without the
// padding that ends the list: EUI64, NGUID and UUID unless zero, then CSI
// if HasCSI; 57 bytes at the most.
func (ids *NSIdentifiers) AppendDescriptors(b []byte) []byte {
	if ids.EUI64 != ([8]byte{}) {
		b = AppendNSDescriptor(b, NIDTEUI64, ids.EUI64[:])
	}
	if ids.NGUID != ([16]byte{}) {
		b = AppendNSDescriptor(b, NIDTNGUID, ids.NGUID[:])
	}
	if ids.UUID != ([16]byte{}) {
		b = AppendNSDescriptor(b, NIDTUUID, ids.UUID[:])
	}
	if ids.HasCSI {
		b = AppendNSDescriptor(b, NIDTCSI, []byte{ids.CSI})
	}
	return b
}

// AppendNSDescriptor appends one Namespace Identification Descriptor to
// b: NIDT, NIDL (len(value), at most 255), two reserved bytes and value.
func AppendNSDescriptor(b []byte, nidt uint8, value []byte) []byte {
	return append(append(b, nidt, uint8(len(value)), 0, 0), value...)
}

// UnmarshalBinary decodes a Namespace Identification Descriptor list. It
// stops at the first descriptor of length zero, skips unknown types, and
// returns an error for a descriptor whose length is wrong for its type or
// runs past the end of p.
func (ids *NSIdentifiers) UnmarshalBinary(p []byte) error {
	*ids = NSIdentifiers{}
	for off := 0; off+4 <= len(p); {
		t, n := p[off], int(p[off+1])
		if n == 0 {
			return nil
		}
		v := off + 4
		if v+n > len(p) {
			return fmt.Errorf("%w: descriptor type %d at offset %d has %d bytes, %d remain", ErrShortBuffer, t, off, n, len(p)-v)
		}
		if want := descriptorLen(t); want != 0 && n != want {
			return fmt.Errorf("nvme: descriptor type %d at offset %d has length %d, want %d", t, off, n, want)
		}
		switch t {
		case NIDTEUI64:
			copy(ids.EUI64[:], p[v:])
		case NIDTNGUID:
			copy(ids.NGUID[:], p[v:])
		case NIDTUUID:
			copy(ids.UUID[:], p[v:])
		case NIDTCSI:
			ids.CSI, ids.HasCSI = p[v], true
		}
		off = v + n
	}
	return nil
}

// descriptorLen returns the length a descriptor of type t must have, or
// 0 for a type this package does not know.
func descriptorLen(t uint8) int {
	switch t {
	case NIDTEUI64:
		return 8
	case NIDTNGUID, NIDTUUID:
		return 16
	case NIDTCSI:
		return 1
	}
	return 0
}

// IdentifyCSIndependentNS is the I/O Command Set Independent Identify
// Namespace data structure (CNS 08h), at the offsets Linux reads it
// (struct nvme_id_ns_cs_indep). An inactive NSID's structure is zero.
type IdentifyCSIndependentNS struct {
	NSFEAT   uint8  // byte 0
	NMIC     uint8  // byte 1: bit 0, may be attached to several controllers
	RESCAP   uint8  // byte 2: reservation capabilities
	FPI      uint8  // byte 3: format progress indicator
	ANAGRPID uint32 // bytes 4-7
	NSATTR   uint8  // byte 8: bit 0, write protected
	NVMSETID uint16 // bytes 10-11
	ENDGID   uint16 // bytes 12-13
	NSTAT    uint8  // byte 14: bit 0, the namespace is ready
}

// AppendBinary appends the 4096-byte encoding of ns to b.
func (ns *IdentifyCSIndependentNS) AppendBinary(b []byte) ([]byte, error) {
	b, p := grow(b, IdentifySize)
	le := binary.LittleEndian
	p[0], p[1], p[2], p[3] = ns.NSFEAT, ns.NMIC, ns.RESCAP, ns.FPI
	le.PutUint32(p[4:], ns.ANAGRPID)
	p[8] = ns.NSATTR
	le.PutUint16(p[10:], ns.NVMSETID)
	le.PutUint16(p[12:], ns.ENDGID)
	p[14] = ns.NSTAT
	return b, nil
}

// UnmarshalBinary decodes an I/O Command Set Independent Identify
// Namespace data structure.
func (ns *IdentifyCSIndependentNS) UnmarshalBinary(p []byte) error {
	if len(p) < IdentifySize {
		return fmt.Errorf("%w: I/O Command Set Independent Identify Namespace needs %d bytes, have %d", ErrShortBuffer, IdentifySize, len(p))
	}
	le := binary.LittleEndian
	*ns = IdentifyCSIndependentNS{
		NSFEAT: p[0], NMIC: p[1], RESCAP: p[2], FPI: p[3], ANAGRPID: le.Uint32(p[4:]), NSATTR: p[8],
		NVMSETID: le.Uint16(p[10:]), ENDGID: le.Uint16(p[12:]), NSTAT: p[14],
	}
	return nil
}

// AppendNSIDList appends a 4096-byte active namespace list holding nsids
// (at most NSIDsPerList) to b.
func AppendNSIDList(b []byte, nsids []uint32) []byte {
	start := len(b)
	for _, id := range nsids[:min(len(nsids), NSIDsPerList)] {
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	return append(b, make([]byte, IdentifySize-(len(b)-start))...)
}

// ParseNSIDList appends to dst the NSIDs of a namespace list (an Identify
// CNS 02h page or a Changed Namespace List log), up to the first zero entry.
func ParseNSIDList(dst []uint32, p []byte) []uint32 {
	for i := 0; i+4 <= len(p); i += 4 {
		id := binary.LittleEndian.Uint32(p[i:])
		if id == 0 {
			break
		}
		dst = append(dst, id)
	}
	return dst
}

// cstring returns a NUL-padded string field up to its first NUL.
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
