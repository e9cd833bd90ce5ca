package target

import (
	"time"

	"github.com/complchain/complchain/nvme"
)

// This file says what the target reports in Identify data and log pages;
// package nvme encodes them.

const (
	changedLogSize = 4096 // Changed Namespace List log page

	nvmeVersion       = 0x00010400 // NVMe 1.4.0
	maxCntlid         = 0xffef
	aenResultNSChange = nvme.AsyncTypeNotice | nvme.AsyncNoticeNamespaceChanged<<8 | nvme.LogChangedNamespace<<16

	featTempThresh  = 0x04
	defaultWCTemp   = 343 // Kelvin: warning composite temperature threshold
	defaultCCTemp   = 373 // Kelvin: critical composite temperature threshold
	reportedTempKel = 308
)

// identifyController returns what Identify Controller (CNS 01h) reports
// for c: the fields of nvme.IdentifyController, those a Linux host reads
// among them. A discovery controller reports the serial, model and
// firmware of the first subsystem.
func (c *controller) identifyController() nvme.IdentifyController {
	cfg := &c.t.subs[0].cfg
	if c.sub != nil {
		cfg = &c.sub.cfg
	}
	id := nvme.IdentifyController{
		SerialNumber: cfg.Serial,
		ModelNumber:  cfg.Model,
		Firmware:     cfg.Firmware,
		RAB:          6,
		CMIC:         1 << 1, // may have two or more controllers
		MDTS:         mdts,
		CNTLID:       c.id,
		Version:      nvmeVersion,
		CNTRLTYPE:    1, // I/O controller
		ACL:          3, // four concurrent Abort commands (0's based)
		AERL:         aerLimit - 1,
		FRMW:         1 << 0, // slot 1 read only
		LPA:          1 << 2, // extended data (NUMDU, LPO) for Get Log Page
		WCTEMP:       defaultWCTemp,
		CCTEMP:       defaultCCTemp,
		KAS:          1, // 100 ms granularity
		MAXCMD:       uint16(min(c.t.cfg.IOQueueDepth, 0xffff)),
		NN:           cfg.MaxNSID,
		ONCS:         nvme.ONCSDatasetManagement | nvme.ONCSWriteZeroes,
		VWC:          1, // volatile write cache present
		OAES:         nvme.AsyncEventNamespaceChanged | nvme.AsyncEventANAChange,
		SGLS:         1, // SGLs supported, no alignment
		SubNQN:       cfg.NQN,
		IOCCSZ:       (64 + inCapsuleSize) / 16,
		IORCSZ:       1,
		MSDBD:        1,   // one SGL data block descriptor
		PS0MaxPower:  900, // power state 0: 9.00 W
	}
	if !c.discovery() {
		id.CMIC |= nvme.CMICANA
		id.ANATT, id.ANACAP = anaTransitionTime, anaCapabilities
		id.ANAGRPMAX, id.NANAGRPID = MaxANAGroups, MaxANAGroups
		id.MNAN = min(id.NN, maxMNAN)
	}
	if c.discovery() {
		id.CNTRLTYPE = 2
		id.CMIC, id.AERL, id.NN, id.OAES, id.IOCCSZ, id.IORCSZ = 0, 0, 0, nvme.AsyncEventDiscoveryChanged, 0, 0
		id.WCTEMP, id.CCTEMP, id.VWC, id.ONCS = 0, 0, 0, 0
		id.SubNQN = nvme.DiscoveryNQN
	}
	return id
}

// nsInfo is what the Identify Namespace structures report.
type nsInfo struct {
	blocks   uint64
	lbads    uint8 // log2 block size
	nguid    [16]byte
	eui64    [8]byte
	uuid     [16]byte
	zero     IDs // identifiers sent as descriptors of zeros
	shared   bool
	active   bool
	anagrpid uint32
	zeroes   bool // the backend Deallocates: DLFEAT
}

// appendIdentifyNamespace encodes Identify Namespace (CNS 00h). An inactive
// namespace is all zeros.
func appendIdentifyNamespace(b []byte, ns *nsInfo) []byte {
	var id nvme.IdentifyNamespace
	if ns.active {
		id = nvme.IdentifyNamespace{NSZE: ns.blocks, NCAP: ns.blocks, NUSE: ns.blocks, NGUID: ns.nguid, EUI64: ns.eui64, ANAGRPID: ns.anagrpid}
		id.LBAF[0].DataShift = ns.lbads
		if ns.shared {
			id.NMIC = 1
		}
		if ns.zeroes {
			id.DLFEAT = nvme.DLFEATZeroes | nvme.DLFEATWriteZeroesDeallocate
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
	b = ids.AppendDescriptors(b)
	var zero [16]byte
	for _, z := range []struct {
		id   IDs
		nidt uint8
		nidl int
	}{{IDEUI64, nvme.NIDTEUI64, 8}, {IDNGUID, nvme.NIDTNGUID, 16}, {IDUUID, nvme.NIDTUUID, 16}} {
		if ns.zero&z.id != 0 {
			b = nvme.AppendNSDescriptor(b, z.nidt, zero[:z.nidl])
		}
	}
	return append(b, make([]byte, nvme.IdentifySize-(len(b)-start))...)
}

// appendCSIndependent encodes the I/O Command Set Independent Identify
// Namespace structure (CNS 08h). An inactive namespace is all zeros.
func appendCSIndependent(b []byte, ns *nsInfo) []byte {
	var id nvme.IdentifyCSIndependentNS
	if ns.active {
		if ns.shared {
			id.NMIC = 1
		}
		id.NSTAT = 1 // namespace ready
		id.ANAGRPID = ns.anagrpid
	}
	b, _ = id.AppendBinary(b)
	return b
}

// appendChangedList encodes the Changed Namespace List log page (04h).
func appendChangedList(b []byte, nsids []uint32, overflow bool) []byte {
	if overflow {
		nsids = []uint32{nvme.NSIDAll}
	}
	return nvme.AppendNSIDList(b, nsids)
}

// smartLog returns the SMART / Health Information log page (02h) for the
// target's counters.
func (t *Target) smartLog() nvme.SMARTLog {
	st := &t.stats
	return nvme.SMARTLog{
		Temperature:      reportedTempKel,
		AvailableSpare:   100,
		SpareThreshold:   10,
		HostReads:        st.reads.Load(),
		HostWrites:       st.writes.Load(),
		DataUnitsRead:    (st.blocksRead.Load() + 999) / 1000,
		DataUnitsWritten: (st.blocksWritten.Load() + 999) / 1000,
		PowerOnHours:     uint64(time.Since(t.start) / time.Hour),
	}
}
