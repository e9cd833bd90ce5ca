package target

import (
	"encoding/binary"
	"hash/fnv"

	"github.com/complchain/complchain/internal/ascii"
	"github.com/complchain/complchain/nvme"
)

// This file encodes the data the target returns (Identify data, log pages)
// at the byte offsets of the NVM Express Base Specification 1.4 and the
// NVMe over Fabrics specification 1.1, with package nvme's encoders where
// it has them.

const (
	changedLogSize = 4096 // Changed Namespace List log page
	smartLogSize   = 512  // SMART / Health Information log page

	cnsCSController nvme.CNS = 0x06 // I/O command set specific Identify Controller

	nvmeVersion       = 0x00010400 // NVMe 1.4.0
	maxCntlid         = 0xffef
	aenResultNSChange = nvme.AsyncTypeNotice | nvme.AsyncNoticeNamespaceChanged<<8 | nvme.LogChangedNamespace<<16

	featTempThresh  = 0x04
	defaultWCTemp   = 343 // Kelvin: warning composite temperature threshold
	defaultCCTemp   = 373 // Kelvin: critical composite temperature threshold
	reportedTempKel = 308
)

// grow appends n zero bytes to b and returns b and the new bytes.
func grow(b []byte, n int) ([]byte, []byte) {
	start := len(b)
	b = append(b, make([]byte, n)...)
	return b, b[start:]
}

// putNQN copies an NQN into a 256-byte field, NUL-padded.
func putNQN(b []byte, s string) {
	n := copy(b[:255], s)
	clear(b[n:])
}

// ctrlInfo is what Identify Controller reports for one controller.
type ctrlInfo struct {
	nvme.IdentifyController
	multiCtrl bool
	vwc       bool
}

// appendIdentifyController encodes Identify Controller (CNS 01h): the
// fields of nvme.IdentifyController and those a Linux host also reads.
func appendIdentifyController(b []byte, ci *ctrlInfo) []byte {
	start := len(b)
	b, _ = ci.IdentifyController.AppendBinary(b)
	d := b[start:]
	le := binary.LittleEndian
	d[72] = 6 // RAB
	if ci.multiCtrl {
		d[76] = 1 << 1 // CMIC: may have two or more controllers
	}
	d[258] = 3      // ACL: four concurrent Abort commands (0's based)
	d[260] = 1 << 0 // FRMW: slot 1 read only
	d[261] = 1 << 2 // LPA: extended data (NUMDU, LPO) for Get Log Page
	if ci.CNTRLTYPE == 1 {
		le.PutUint16(d[266:], defaultWCTemp)
		le.PutUint16(d[268:], defaultCCTemp)
	}
	if ci.vwc {
		d[525] = 1 // VWC: volatile write cache present
	}
	d[1803] = 1                 // MSDBD
	le.PutUint16(d[2048:], 900) // power state 0: 9.00 W
	return b
}

// nsInfo is what the Identify Namespace structures report.
type nsInfo struct {
	blocks uint64
	lbads  uint8 // log2 block size
	nguid  [16]byte
	eui64  [8]byte
	uuid   [16]byte
	zero   IDs // identifiers sent as descriptors of zeros
	shared bool
	active bool
}

// appendIdentifyNamespace encodes Identify Namespace (CNS 00h). An inactive
// namespace is all zeros.
func appendIdentifyNamespace(b []byte, ns *nsInfo) []byte {
	var id nvme.IdentifyNamespace
	if ns.active {
		id = nvme.IdentifyNamespace{NSZE: ns.blocks, NCAP: ns.blocks, NUSE: ns.blocks, NGUID: ns.nguid, EUI64: ns.eui64}
		id.LBAF[0].DataShift = ns.lbads
		if ns.shared {
			id.NMIC = 1
		}
	}
	b, _ = id.AppendBinary(b)
	return b
}

// appendNSDescriptors encodes the Namespace Identification Descriptor list
// (CNS 03h): EUI64, NGUID, UUID and CSI (NVM), then a descriptor of zeros
// for each identifier in ns.zero.
func appendNSDescriptors(b []byte, ns *nsInfo) []byte {
	start := len(b)
	ids := nvme.NSIdentifiers{EUI64: ns.eui64, NGUID: ns.nguid, UUID: ns.uuid, HasCSI: true}
	b, _ = ids.AppendBinary(b)
	if ns.zero == 0 {
		return b
	}
	d := b[start:]
	off := 0
	for d[off+1] != 0 { // past the descriptors written: NIDL 0 ends the list
		off += 4 + int(d[off+1])
	}
	for _, z := range []struct {
		id   IDs
		nidt uint8
		nidl int
	}{{IDEUI64, nvme.NIDTEUI64, 8}, {IDNGUID, nvme.NIDTNGUID, 16}, {IDUUID, nvme.NIDTUUID, 16}} {
		if ns.zero&z.id != 0 {
			d[off], d[off+1] = z.nidt, uint8(z.nidl)
			off += 4 + z.nidl // the value is already zero
		}
	}
	return b
}

// appendCSIndependent encodes the I/O Command Set Independent Identify
// Namespace structure (CNS 08h). An inactive namespace is all zeros.
func appendCSIndependent(b []byte, ns *nsInfo) []byte {
	b, d := grow(b, nvme.IdentifySize)
	if ns.active {
		if ns.shared {
			d[1] = 1 // NMIC
		}
		d[14] = 1 // NSTAT: namespace ready
	}
	return b
}

// appendChangedList encodes the Changed Namespace List log page (04h).
func appendChangedList(b []byte, nsids []uint32, overflow bool) []byte {
	if overflow {
		nsids = []uint32{nvme.NSIDAll}
	}
	return nvme.AppendNSIDList(b, nsids)
}

// smartInfo holds the counters of the SMART / Health log page.
type smartInfo struct {
	unitsRead, unitsWritten uint64 // thousands of 512-byte units
	reads, writes           uint64 // commands
	powerOnHours            uint64
}

// appendSMART encodes a minimal SMART / Health Information log page (02h).
func appendSMART(b []byte, s *smartInfo) []byte {
	b, d := grow(b, smartLogSize)
	le := binary.LittleEndian
	le.PutUint16(d[1:], reportedTempKel) // composite temperature
	d[3] = 100                           // available spare
	d[4] = 10                            // available spare threshold
	le.PutUint64(d[32:], s.unitsRead)
	le.PutUint64(d[48:], s.unitsWritten)
	le.PutUint64(d[64:], s.reads)
	le.PutUint64(d[80:], s.writes)
	le.PutUint64(d[128:], s.powerOnHours)
	return b
}

// appendDiscoveryLog encodes the discovery log page (70h).
func appendDiscoveryLog(b []byte, genctr uint64, entries []nvme.DiscoveryEntry) []byte {
	b, d := grow(b, nvme.DiscoveryLogHeaderSize+nvme.DiscoveryEntrySize*len(entries))
	le := binary.LittleEndian
	le.PutUint64(d[0:], genctr)
	le.PutUint64(d[8:], uint64(len(entries)))
	for i, e := range entries {
		r := d[nvme.DiscoveryLogHeaderSize+nvme.DiscoveryEntrySize*i:][:nvme.DiscoveryEntrySize]
		r[0], r[1], r[2] = e.TransportType, e.AddressFamily, e.SubsystemType
		r[3] = 0 // TREQ: not specified
		le.PutUint16(r[4:], e.PortID)
		le.PutUint16(r[6:], e.CNTLID)
		le.PutUint16(r[8:], e.AdminQueueMax)
		ascii.Pad(r[32:64], e.ServiceID)
		putNQN(r[256:512], e.SubsystemNQN)
		ascii.Pad(r[512:768], e.Address)
		r[768] = 0 // TSAS: SECTYPE none
	}
	return b
}

// Byte offsets in the Connect data, reported in Connect Invalid Parameters.
const (
	offCDCntlid = 16
	offCDSubnqn = 256
)

// Byte offsets in the Connect SQE, reported in Connect Invalid Parameters.
const (
	offSQEQid    = 42
	offSQESqsize = 44
)

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
