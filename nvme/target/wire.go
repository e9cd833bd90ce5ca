package target

import (
	"encoding/binary"
	"hash/fnv"
)

// This file encodes the data structures the target returns (Identify data,
// log pages) at the byte offsets of the NVM Express Base Specification 1.4
// and the NVMe over Fabrics specification 1.1.

const (
	identifySize   = 4096 // every Identify data structure
	nsListEntries  = 1024 // NSIDs in an active namespace list page
	changedLogSize = 4096 // Changed Namespace List log page
	smartLogSize   = 512  // SMART / Health Information log page
	discHeaderSize = 1024 // discovery log page header
	discEntrySize  = 1024 // discovery log page entry
)

// Identify CNS values served.
const (
	cnsNamespace      = 0x00
	cnsController     = 0x01
	cnsActiveNSList   = 0x02
	cnsNSDescriptors  = 0x03
	cnsCSController   = 0x06
	cnsCSIndependent  = 0x08
	nsidBroadcast     = 0xffffffff
	discoveryNQN      = "nqn.2014-08.org.nvmexpress.discovery"
	nvmeVersion       = 0x00010400 // NVMe 1.4.0
	cntlidDynamic     = 0xffff
	maxCntlid         = 0xffef
	aenNSAttrChanged  = 1 << 8                    // OAES / Async Event Config bit
	aenResultNSChange = 0x02 | 0x00<<8 | 0x04<<16 // notice, NS attribute changed, log 0x04
)

// Log page identifiers served.
const (
	logSMART     = 0x02
	logChangedNS = 0x04
	logDiscovery = 0x70
)

// Feature identifiers served.
const (
	featNumQueues   = 0x07
	featAsyncEvent  = 0x0b
	featKeepAlive   = 0x0f
	featTempThresh  = 0x04
	defaultWCTemp   = 343 // Kelvin: warning composite temperature threshold
	defaultCCTemp   = 373 // Kelvin: critical composite temperature threshold
	reportedTempKel = 308
)

// Controller property offsets (NVMe over Fabrics Property Get/Set).
const (
	propCAP  = 0x00
	propVS   = 0x08
	propCC   = 0x14
	propCSTS = 0x1c
)

// CC and CSTS fields.
const (
	ccEN          = 1 << 0
	ccSHNShift    = 14
	ccSHNMask     = 3 << ccSHNShift
	cstsRDY       = 1 << 0
	cstsCFS       = 1 << 1
	cstsSHSTMask  = 3 << 2
	cstsSHSTDone  = 2 << 2
	ccIOSQESShift = 16
	ccIOCQESShift = 20
)

// grow appends n zero bytes to b and returns b and the new bytes.
func grow(b []byte, n int) ([]byte, []byte) {
	start := len(b)
	b = append(b, make([]byte, n)...)
	return b, b[start:]
}

// putString copies s into b, padding with spaces (ASCII fields of Identify).
func putString(b []byte, s string) {
	n := copy(b, s)
	for i := n; i < len(b); i++ {
		b[i] = ' '
	}
}

// putNQN copies an NQN into a 256-byte field, NUL-padded.
func putNQN(b []byte, s string) {
	n := copy(b[:255], s)
	clear(b[n:])
}

// cString returns the bytes of b up to its first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// ctrlInfo is what Identify Controller reports for one controller.
type ctrlInfo struct {
	cntlid      uint16
	discovery   bool
	serial      string
	model       string
	firmware    string
	subnqn      string
	maxCmd      uint16 // MAXCMD: queue entries
	nn          uint32
	aerl        uint8 // 0's based
	mdts        uint8
	ioccsz      uint32 // 16-byte units
	vwc         bool
	multiCtrl   bool
	oaesNSNotes bool
}

// appendIdentifyController encodes Identify Controller (CNS 01h).
func appendIdentifyController(b []byte, ci *ctrlInfo) []byte {
	b, d := grow(b, identifySize)
	le := binary.LittleEndian
	putString(d[4:24], ci.serial)
	putString(d[24:64], ci.model)
	putString(d[64:72], ci.firmware)
	d[72] = 6 // RAB
	if ci.multiCtrl {
		d[76] = 1 << 1 // CMIC: may have two or more controllers
	}
	d[77] = ci.mdts
	le.PutUint16(d[78:], ci.cntlid)
	le.PutUint32(d[80:], nvmeVersion)
	if ci.oaesNSNotes {
		le.PutUint32(d[92:], aenNSAttrChanged)
	}
	if ci.discovery {
		d[111] = 2 // CNTRLTYPE: discovery controller
	} else {
		d[111] = 1 // CNTRLTYPE: I/O controller
	}
	d[258] = 3       // ACL: four concurrent Abort commands (0's based)
	d[259] = ci.aerl // AERL
	d[260] = 1 << 0  // FRMW: slot 1 read only
	d[261] = 1 << 2  // LPA: extended data (NUMDU, LPO) for Get Log Page
	if !ci.discovery {
		le.PutUint16(d[266:], defaultWCTemp)
		le.PutUint16(d[268:], defaultCCTemp)
	}
	le.PutUint16(d[320:], 1) // KAS: 100 ms granularity
	d[512] = 6<<4 | 6        // SQES
	d[513] = 4<<4 | 4        // CQES
	le.PutUint16(d[514:], ci.maxCmd)
	le.PutUint32(d[516:], ci.nn)
	if ci.vwc {
		d[525] = 1 // VWC: volatile write cache present
	}
	le.PutUint32(d[536:], 1<<0) // SGLS: SGLs supported, no alignment
	putNQN(d[768:1024], ci.subnqn)
	if !ci.discovery {
		le.PutUint32(d[1792:], ci.ioccsz) // IOCCSZ
		le.PutUint32(d[1796:], 1)         // IORCSZ: 16-byte completions
	}
	le.PutUint16(d[1800:], 0) // ICDOFF
	d[1802] = 0               // FCATT: dynamic controller model
	d[1803] = 1               // MSDBD
	// Power state 0: 9.00 W, entry/exit latency 0.
	le.PutUint16(d[2048:], 900)
	return b
}

// nsInfo is what the Identify Namespace structures report.
type nsInfo struct {
	blocks    uint64
	lbads     uint8 // log2 block size
	nguid     [16]byte
	eui64     [8]byte
	uuid      [16]byte
	shared    bool
	active    bool
	blockSize uint32
}

// appendIdentifyNamespace encodes Identify Namespace (CNS 00h). An inactive
// namespace is all zeros.
func appendIdentifyNamespace(b []byte, ns *nsInfo) []byte {
	b, d := grow(b, identifySize)
	if ns.active {
		le := binary.LittleEndian
		le.PutUint64(d[0:], ns.blocks)  // NSZE
		le.PutUint64(d[8:], ns.blocks)  // NCAP
		le.PutUint64(d[16:], ns.blocks) // NUSE
		d[25] = 0                       // NLBAF: one format (0's based)
		d[26] = 0                       // FLBAS: format 0
		if ns.shared {
			d[30] = 1 // NMIC: may be attached to two or more controllers
		}
		copy(d[104:120], ns.nguid[:])
		copy(d[120:128], ns.eui64[:])
		d[128+2] = ns.lbads // LBAF0: MS 0, LBADS, RP 0 (best)
	}
	return b
}

// appendNSDescriptors encodes the Namespace Identification Descriptor list
// (CNS 03h): EUI64, NGUID, UUID, CSI.
func appendNSDescriptors(b []byte, ns *nsInfo) []byte {
	start := len(b)
	d := b
	if ns.eui64 != ([8]byte{}) {
		d = append(d, 1, 8, 0, 0)
		d = append(d, ns.eui64[:]...)
	}
	if ns.nguid != ([16]byte{}) {
		d = append(d, 2, 16, 0, 0)
		d = append(d, ns.nguid[:]...)
	}
	if ns.uuid != ([16]byte{}) {
		d = append(d, 3, 16, 0, 0)
		d = append(d, ns.uuid[:]...)
	}
	d = append(d, 4, 1, 0, 0, 0) // CSI: NVM command set
	return append(d, make([]byte, identifySize-(len(d)-start))...)
}

// appendCSIndependent encodes the I/O Command Set Independent Identify
// Namespace structure (CNS 08h). An inactive namespace is all zeros.
func appendCSIndependent(b []byte, ns *nsInfo) []byte {
	b, d := grow(b, identifySize)
	if ns.active {
		if ns.shared {
			d[1] = 1 // NMIC
		}
		d[14] = 1 // NSTAT: namespace ready
	}
	return b
}

// appendActiveList encodes an active namespace ID list (CNS 02h).
func appendActiveList(b []byte, nsids []uint32) []byte {
	b, d := grow(b, identifySize)
	for i, id := range nsids[:min(len(nsids), nsListEntries)] {
		binary.LittleEndian.PutUint32(d[4*i:], id)
	}
	return b
}

// appendChangedList encodes the Changed Namespace List log page (04h).
func appendChangedList(b []byte, nsids []uint32, overflow bool) []byte {
	b, d := grow(b, changedLogSize)
	if overflow {
		binary.LittleEndian.PutUint32(d, nsidBroadcast)
	} else {
		for i, id := range nsids[:min(len(nsids), nsListEntries)] {
			binary.LittleEndian.PutUint32(d[4*i:], id)
		}
	}
	return b
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

// discEntry is one record of the discovery log page.
type discEntry struct {
	ipv6    bool
	portID  uint16
	asqsz   uint16
	trsvcid string
	traddr  string
	subnqn  string
}

// appendDiscoveryLog encodes the discovery log page (70h).
func appendDiscoveryLog(b []byte, genctr uint64, entries []discEntry) []byte {
	b, d := grow(b, discHeaderSize+discEntrySize*len(entries))
	le := binary.LittleEndian
	le.PutUint64(d[0:], genctr)
	le.PutUint64(d[8:], uint64(len(entries)))
	for i, e := range entries {
		r := d[discHeaderSize+discEntrySize*i:][:discEntrySize]
		r[0] = 3 // TRTYPE: TCP
		r[1] = 1 // ADRFAM: IPv4
		if e.ipv6 {
			r[1] = 2
		}
		r[2] = 2 // SUBTYPE: NVM subsystem
		r[3] = 0 // TREQ: not specified
		le.PutUint16(r[4:], e.portID)
		le.PutUint16(r[6:], cntlidDynamic)
		le.PutUint16(r[8:], e.asqsz)
		putString(r[32:64], e.trsvcid)
		putNQN(r[256:512], e.subnqn)
		putString(r[512:768], e.traddr)
		r[768] = 0 // TSAS: SECTYPE none
	}
	return b
}

// connectData is the decoded 1024-byte Connect command data.
type connectData struct {
	hostID  [16]byte
	cntlid  uint16
	subnqn  string
	hostnqn string
}

const connectDataSize = 1024

// Byte offsets in the Connect data, reported in Connect Invalid Parameters.
const (
	offCDCntlid  = 16
	offCDSubnqn  = 256
	offCDHostnqn = 512
)

// Byte offsets in the Connect SQE, reported in Connect Invalid Parameters.
const (
	offSQERecfmt = 40
	offSQEQid    = 42
	offSQESqsize = 44
)

func parseConnectData(b []byte) (connectData, bool) {
	if len(b) < connectDataSize {
		return connectData{}, false
	}
	var cd connectData
	copy(cd.hostID[:], b[:16])
	cd.cntlid = binary.LittleEndian.Uint16(b[16:])
	cd.subnqn = cString(b[256:511])
	cd.hostnqn = cString(b[512:767])
	return cd, true
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
