package nvme

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/complchain/complchain/internal/ascii"
)

// DiscoveryNQN is the well-known NQN of a discovery subsystem.
const DiscoveryNQN = "nqn.2014-08.org.nvmexpress.discovery"

// MaxNQNLen is the most bytes an NQN may have (NVMe Base Specification,
// "NVMe Qualified Names"; Linux's NVMF_NQN_SIZE).
const MaxNQNLen = 223

// ConnectDataSize is the size in bytes of the Connect command's data.
const ConnectDataSize = 1024

// DynamicController is the controller ID a host puts in ConnectData to let
// the subsystem choose the controller of a new association.
const DynamicController = 0xffff

// ConnectCommand returns a fabrics Connect command for queue qid with
// sqsize entries (sqsize ≥ 1; encoded 0's based) and the keep alive
// timeout kato in milliseconds. Its 1024 bytes of ConnectData travel as
// in-capsule data.
func ConnectCommand(qid, sqsize uint16, kato uint32) Command {
	return Command{
		Opcode: OpFabrics,
		NSID:   uint32(FabricsConnect),
		CDW10:  uint32(qid) << 16, // RECFMT 0 (bits 15:0), QID (bits 31:16)
		CDW11:  uint32(sqsize - 1),
		CDW12:  kato,
	}
}

// ConnectQueue returns the queue ID, the number of submission queue
// entries and the keep alive timeout (ms) of a Connect command.
func (c *Command) ConnectQueue() (qid uint16, sqsize uint32, kato uint32) {
	return uint16(c.CDW10 >> 16), uint32(uint16(c.CDW11)) + 1, c.CDW12
}

// ConnectData is the data of a fabrics Connect command.
type ConnectData struct {
	HostID       [16]byte
	CNTLID       uint16 // DynamicController for a new admin queue
	SubsystemNQN string // at most MaxNQNLen bytes
	HostNQN      string // at most MaxNQNLen bytes
}

// AppendBinary appends the 1024-byte encoding of d to b.
func (d *ConnectData) AppendBinary(b []byte) ([]byte, error) {
	if len(d.SubsystemNQN) > MaxNQNLen || len(d.HostNQN) > MaxNQNLen {
		return b, fmt.Errorf("nvme: NQN longer than %d bytes", MaxNQNLen)
	}
	b, p := grow(b, ConnectDataSize)
	copy(p[0:16], d.HostID[:])
	binary.LittleEndian.PutUint16(p[16:], d.CNTLID)
	copy(p[256:512], d.SubsystemNQN)
	copy(p[512:768], d.HostNQN)
	return b, nil
}

// UnmarshalBinary decodes Connect data.
func (d *ConnectData) UnmarshalBinary(p []byte) error {
	if len(p) < ConnectDataSize {
		return fmt.Errorf("%w: Connect data needs %d bytes, have %d", ErrShortBuffer, ConnectDataSize, len(p))
	}
	copy(d.HostID[:], p[0:16])
	d.CNTLID = binary.LittleEndian.Uint16(p[16:])
	d.SubsystemNQN = cstring(p[256:512])
	d.HostNQN = cstring(p[512:768])
	return nil
}

// Controller property (register) offsets.
const (
	PropCAP  = 0x00 // 8 bytes
	PropVS   = 0x08
	PropCC   = 0x14
	PropCSTS = 0x1c
)

// PropertyGetCommand returns a Property Get command reading the property
// at offset; size is 4 or 8 bytes.
func PropertyGetCommand(offset uint32, size int) Command {
	c := Command{Opcode: OpFabrics, NSID: uint32(FabricsPropertyGet), CDW11: offset}
	if size == 8 {
		c.CDW10 = 1
	}
	return c
}

// PropertySetCommand returns a Property Set command writing the 4-byte
// property at offset.
func PropertySetCommand(offset uint32, value uint32) Command {
	return Command{Opcode: OpFabrics, NSID: uint32(FabricsPropertySet), CDW11: offset, CDW12: value}
}

// CAPMQES returns CAP.MQES: the largest queue the controller supports, in
// entries, 0's based.
func CAPMQES(cap uint64) int { return int(uint16(cap)) }

// CAPTimeoutMS returns CAP.TO in milliseconds: how long the host waits for
// CSTS.RDY to change after CC.EN does.
func CAPTimeoutMS(cap uint64) int64 { return int64(uint8(cap>>24)) * 500 }

// CAPCSS returns CAP.CSS, the command sets supported (bit 0: NVM).
func CAPCSS(cap uint64) uint8 { return uint8(cap >> 37) }

// Controller Configuration (CC) fields: masks, and the values hosts write
// (NVMe Base Specification, "Controller Configuration").
const (
	CCEnable     = 1 << 0    // EN
	CCShnMask    = 3 << 14   // SHN: shutdown notification, 00b none
	CCShnNormal  = 1 << 14   // SHN 01b: normal shutdown
	CCIOSQESMask = 0xf << 16 // IOSQES: I/O submission queue entry size, log2 bytes
	CCIOSQES     = 6 << 16   // IOSQES 6: 64-byte entries, the size NVMe over Fabrics requires
	CCIOCQESMask = 0xf << 20 // IOCQES: I/O completion queue entry size, log2 bytes
	CCIOCQES     = 4 << 20   // IOCQES 4: 16-byte entries, the size NVMe over Fabrics requires
)

// Controller Status (CSTS) fields.
const (
	CSTSReady    = 1 << 0
	CSTSFatal    = 1 << 1
	CSTSShstMask = 3 << 2
	CSTSShstDone = 2 << 2
)

// Log page identifiers.
const (
	LogSMART            = 0x02
	LogChangedNamespace = 0x04
	LogDiscovery        = 0x70
)

// GetLogPageCommand returns a Get Log Page command for log lid of length
// bytes (a multiple of 4) at byte offset, for nsid.
func GetLogPageCommand(lid uint8, nsid uint32, length int, offset uint64) Command {
	numd := uint32(length/4 - 1)
	return Command{
		Opcode: OpGetLogPage,
		NSID:   nsid,
		CDW10:  uint32(lid) | numd<<16,
		CDW11:  numd >> 16,
		CDW12:  uint32(offset),
		CDW13:  uint32(offset >> 32),
	}
}

// LogPage returns the log identifier, length in bytes and offset of a Get
// Log Page command. The length is (NUMD+1)*4, NUMD being the 0's based
// dword count of CDW10 bits 31:16 (NUMDL) and CDW11 bits 15:0 (NUMDU): from
// 4 bytes up to 16 GiB for NUMD FFFFFFFFh (math.MaxInt where int has 32
// bits). A peer chooses it, so check it against a limit before use.
func (c *Command) LogPage() (lid uint8, length int, offset uint64) {
	numd := c.CDW10>>16 | (c.CDW11&0xffff)<<16
	n := (uint64(numd) + 1) * 4
	return uint8(c.CDW10), int(min(n, math.MaxInt)), uint64(c.CDW12) | uint64(c.CDW13)<<32
}

// Feature identifiers.
const (
	FeatureNumberOfQueues = 0x07
	FeatureAsyncEvent     = 0x0b
	FeatureKeepAlive      = 0x0f
)

// AsyncEventNamespaceChanged is the Asynchronous Event Configuration bit
// that enables "namespace attribute changed" notices.
const AsyncEventNamespaceChanged = 1 << 8

// AsyncEventDiscoveryChanged is the Asynchronous Event Configuration bit
// of a discovery controller that enables Discovery Log Page Change
// notices.
const AsyncEventDiscoveryChanged = 1 << 31

// SetFeaturesCommand returns a Set Features command for fid with value in
// CDW11.
func SetFeaturesCommand(fid uint8, value uint32) Command {
	return Command{Opcode: OpSetFeatures, CDW10: uint32(fid), CDW11: value}
}

// AsyncEvent is the result of a completed Asynchronous Event Request.
type AsyncEvent struct {
	Type uint8 // 0 error, 1 SMART/health, 2 notice, 6 I/O command set specific, 7 vendor
	Info uint8 // event information, e.g. AsyncNoticeNamespaceChanged
	Log  uint8 // the log page to read to clear the event
}

// Asynchronous event types and notice information.
const (
	AsyncTypeNotice             = 2
	AsyncNoticeNamespaceChanged = 0
	AsyncNoticeDiscoveryChanged = 0xf0
)

// ParseAsyncEvent decodes dword 0 of an Asynchronous Event Request's
// completion.
func ParseAsyncEvent(dw0 uint32) AsyncEvent {
	return AsyncEvent{Type: uint8(dw0 & 7), Info: uint8(dw0 >> 8), Log: uint8(dw0 >> 16)}
}

// NamespaceChanged reports whether e is the "namespace attribute changed"
// notice.
func (e AsyncEvent) NamespaceChanged() bool {
	return e.Type == AsyncTypeNotice && e.Info == AsyncNoticeNamespaceChanged
}

// DiscoveryChanged reports whether e is the Discovery Log Page Change
// notice.
func (e AsyncEvent) DiscoveryChanged() bool {
	return e.Type == AsyncTypeNotice && e.Info == AsyncNoticeDiscoveryChanged
}

// DiscoveryLogHeaderSize and DiscoveryEntrySize are the sizes of the
// discovery log page's header and of each of its entries.
const (
	DiscoveryLogHeaderSize = 1024
	DiscoveryEntrySize     = 1024
)

// DiscoveryEntry is one entry of the discovery log page (log 70h).
type DiscoveryEntry struct {
	TransportType uint8 // 3: TCP
	AddressFamily uint8 // 1: IPv4, 2: IPv6
	SubsystemType uint8 // SUBTYPE: SubtypeReferral, SubtypeNVM or SubtypeCurrentDiscovery
	Requirements  uint8 // TREQ: bits 1:0 secure channel, bit 2 SQ flow control disable supported
	PortID        uint16
	CNTLID        uint16
	AdminQueueMax uint16 // ASQSZ
	ServiceID     string // TRSVCID, e.g. "4420"
	SubsystemNQN  string
	Address       string // TRADDR
}

// Discovery log entry subsystem types (SUBTYPE), NVMe over Fabrics 1.1
// section 5.3, Figure 38.
const (
	SubtypeReferral         = 1 // another discovery subsystem
	SubtypeNVM              = 2 // an NVM subsystem
	SubtypeCurrentDiscovery = 3 // the discovery subsystem the log was read from
)

// TransportTCP is the TRTYPE of NVMe/TCP in a discovery log entry.
const TransportTCP = 3

// ParseDiscoveryLog decodes a discovery log page: its generation counter
// and the entries present in p (at most the header's record count).
func ParseDiscoveryLog(p []byte) (genctr uint64, numrec uint64, entries []DiscoveryEntry, err error) {
	if len(p) < DiscoveryLogHeaderSize {
		return 0, 0, nil, fmt.Errorf("%w: discovery log header needs %d bytes, have %d", ErrShortBuffer, DiscoveryLogHeaderSize, len(p))
	}
	le := binary.LittleEndian
	genctr, numrec = le.Uint64(p[0:]), le.Uint64(p[8:])
	body := p[DiscoveryLogHeaderSize:]
	n := uint64(len(body) / DiscoveryEntrySize)
	return genctr, numrec, ParseDiscoveryEntries(nil, body[:min(n, numrec)*DiscoveryEntrySize]), nil
}

// ParseDiscoveryEntries appends to dst the discovery log entries in p,
// whole 1024-byte records read at an offset past the header (bytes after
// the last whole record are ignored), and returns the extended slice.
func ParseDiscoveryEntries(dst []DiscoveryEntry, p []byte) []DiscoveryEntry {
	le := binary.LittleEndian
	for ; len(p) >= DiscoveryEntrySize; p = p[DiscoveryEntrySize:] {
		dst = append(dst, DiscoveryEntry{
			TransportType: p[0], AddressFamily: p[1], SubsystemType: p[2], Requirements: p[3],
			PortID: le.Uint16(p[4:]), CNTLID: le.Uint16(p[6:]), AdminQueueMax: le.Uint16(p[8:]),
			ServiceID: ascii.Trim(cstringBytes(p[32:64])), SubsystemNQN: cstring(p[256:512]), Address: ascii.Trim(cstringBytes(p[512:768])),
		})
	}
	return dst
}

// AppendDiscoveryLog appends a discovery log page (70h) to b: the header,
// with generation counter genctr and the number of entries, and one
// 1024-byte record for each entry. ServiceID and Address are space
// padded, SubsystemNQN NUL padded; EFLAGS and TSAS are zero (no secure
// channel). Strings longer than their fields are cut.
func AppendDiscoveryLog(b []byte, genctr uint64, entries []DiscoveryEntry) []byte {
	b, p := grow(b, DiscoveryLogHeaderSize+DiscoveryEntrySize*len(entries))
	le := binary.LittleEndian
	le.PutUint64(p[0:], genctr)
	le.PutUint64(p[8:], uint64(len(entries)))
	for i, e := range entries {
		r := p[DiscoveryLogHeaderSize+DiscoveryEntrySize*i:][:DiscoveryEntrySize]
		r[0], r[1], r[2], r[3] = e.TransportType, e.AddressFamily, e.SubsystemType, e.Requirements
		le.PutUint16(r[4:], e.PortID)
		le.PutUint16(r[6:], e.CNTLID)
		le.PutUint16(r[8:], e.AdminQueueMax)
		ascii.Pad(r[32:64], e.ServiceID)
		copy(r[256:512], e.SubsystemNQN)
		ascii.Pad(r[512:768], e.Address)
	}
	return b
}

func cstringBytes(b []byte) []byte { return []byte(cstring(b)) }
