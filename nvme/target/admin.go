package target

import (
	"slices"
	"time"

	"github.com/complchain/complchain/nvme"
)

func sortUint32(s []uint32) { slices.Sort(s) }

// admin executes an admin command other than fabrics commands and AER.
func (c *controller) admin(q *conn, cmd *nvme.Command, data []byte) response {
	switch cmd.Opcode {
	case nvme.OpIdentify:
		return c.identify(cmd)
	case nvme.OpGetLogPage:
		return c.getLogPage(q, cmd)
	case nvme.OpSetFeatures:
		return c.setFeatures(cmd)
	case nvme.OpGetFeatures:
		return c.getFeatures(cmd)
	case nvme.OpKeepAlive:
		return response{}
	case nvme.OpAbort:
		return response{result: 1} // commands complete on their own: not aborted
	}
	return fail(nvme.StatusInvalidOpcode | nvme.StatusDNR)
}

// transferLen returns the length of the data a command asks for, from its
// SGL, capped by the controller's maximum data transfer size.
func transferLen(cmd *nvme.Command) (int, bool) {
	n := cmd.SGL().Length
	return int(n), n <= maxTransfer
}

// clip returns the first n bytes of b, padded with zeros.
func clip(b []byte, n int) []byte {
	if len(b) >= n {
		return b[:n]
	}
	return append(b, make([]byte, n-len(b))...)
}

func (c *controller) ctrlInfo() ctrlInfo {
	cfg := &c.t.cfg
	ci := ctrlInfo{
		cntlid:    c.id,
		discovery: c.discovery,
		serial:    cfg.Serial,
		model:     cfg.Model,
		firmware:  cfg.Firmware,
		subnqn:    cfg.NQN,
		maxCmd:    uint16(cfg.QueueDepth),
		aerl:      aerLimit - 1,
		mdts:      mdts,
		ioccsz:    (64 + inCapsuleSize) / 16,
	}
	if c.discovery {
		ci.subnqn = discoveryNQN
		ci.aerl = 0
	} else {
		ci.nn = cfg.MaxNSID
		ci.vwc = true
		ci.multiCtrl = true
		ci.oaesNSNotes = true
	}
	return ci
}

// identify executes Identify.
func (c *controller) identify(cmd *nvme.Command) response {
	n, ok := transferLen(cmd)
	if !ok {
		return fail(nvme.StatusInvalidField | nvme.StatusDNR)
	}
	cns := cmd.CDW10 & 0xff
	csi := cmd.CDW11 >> 24
	if c.discovery && cns != cnsController {
		return fail(nvme.StatusInvalidField | nvme.StatusDNR)
	}
	var b []byte
	switch cns {
	case cnsController:
		ci := c.ctrlInfo()
		b = appendIdentifyController(nil, &ci)
	case cnsActiveNSList:
		if cmd.NSID >= nsidBroadcast-1 {
			return fail(nvme.StatusInvalidNamespace | nvme.StatusDNR)
		}
		b = appendActiveList(nil, c.t.activeAfter(cmd.NSID, nsListEntries))
	case cnsNamespace, cnsCSIndependent, cnsNSDescriptors:
		if cmd.NSID == 0 || (cmd.NSID > c.t.cfg.MaxNSID && cmd.NSID != nsidBroadcast) ||
			(cmd.NSID == nsidBroadcast && cns != cnsNamespace) {
			return fail(nvme.StatusInvalidNamespace | nvme.StatusDNR)
		}
		var info nsInfo
		if ns := c.t.namespace(cmd.NSID); ns != nil {
			info = ns.info(true)
		}
		switch cns {
		case cnsNamespace:
			b = appendIdentifyNamespace(nil, &info)
		case cnsCSIndependent:
			b = appendCSIndependent(nil, &info)
		case cnsNSDescriptors:
			if !info.active {
				return fail(nvme.StatusInvalidNamespace | nvme.StatusDNR)
			}
			b = appendNSDescriptors(nil, &info)
		}
	case cnsCSController:
		if csi != 0 {
			return fail(nvme.StatusInvalidField | nvme.StatusDNR)
		}
		b = make([]byte, identifySize) // NVM command set: no extra limits
	default:
		return fail(nvme.StatusInvalidField | nvme.StatusDNR)
	}
	return response{data: clip(b, n)}
}

// getLogPage executes Get Log Page.
func (c *controller) getLogPage(q *conn, cmd *nvme.Command) response {
	lid := cmd.CDW10 & 0xff
	rae := cmd.CDW10&(1<<15) != 0
	numd := uint64(cmd.CDW10>>16|(cmd.CDW11&0xffff)<<16) + 1
	off := uint64(cmd.CDW12) | uint64(cmd.CDW13)<<32
	n, ok := transferLen(cmd)
	if !ok || numd*4 > maxTransfer || off%4 != 0 {
		return fail(nvme.StatusInvalidField | nvme.StatusDNR)
	}
	n = min(n, int(numd*4))
	var b []byte
	switch {
	case lid == logDiscovery && c.discovery:
		b = appendDiscoveryLog(nil, 1, []discEntry{q.discoveryEntry()})
	case lid == logSMART && !c.discovery:
		st := &c.t.stats
		s := smartInfo{
			reads:        st.reads.Load(),
			writes:       st.writes.Load(),
			unitsRead:    (st.blocksRead.Load() + 999) / 1000,
			unitsWritten: (st.blocksWritten.Load() + 999) / 1000,
			powerOnHours: uint64(time.Since(c.t.start) / time.Hour),
		}
		b = appendSMART(nil, &s)
	case lid == logChangedNS && !c.discovery:
		b = c.changedLog(rae)
	default:
		return fail(nvme.StatusInvalidLogPage | nvme.StatusDNR)
	}
	if off > uint64(len(b)) {
		return fail(nvme.StatusInvalidField | nvme.StatusDNR)
	}
	return response{data: clip(b[off:], n)}
}

// setFeatures executes Set Features.
func (c *controller) setFeatures(cmd *nvme.Command) response {
	if cmd.CDW10&(1<<31) != 0 {
		return fail(nvme.StatusFeatureNotSaveable | nvme.StatusDNR)
	}
	fid := cmd.CDW10 & 0xff
	v := cmd.CDW11
	switch {
	case fid == featKeepAlive:
		c.setKATO(time.Duration(v) * time.Millisecond)
		return response{}
	case fid == featAsyncEvent:
		c.mu.Lock()
		c.aenCfg = v
		c.mu.Unlock()
		return response{}
	case fid == featNumQueues && !c.discovery:
		nsq, ncq := v&0xffff, v>>16
		if nsq == 0xffff || ncq == 0xffff {
			return fail(nvme.StatusInvalidField | nvme.StatusDNR)
		}
		c.mu.Lock()
		max := uint32(c.t.cfg.IOQueues - 1)
		nsq, ncq = min(nsq, max), min(ncq, max)
		c.ioQueues = int(min(nsq, ncq)) + 1
		c.mu.Unlock()
		return response{result: uint64(nsq | ncq<<16)}
	}
	return fail(nvme.StatusInvalidField | nvme.StatusDNR)
}

// getFeatures executes Get Features.
func (c *controller) getFeatures(cmd *nvme.Command) response {
	fid := cmd.CDW10 & 0xff
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case fid == featKeepAlive:
		return response{result: uint64(time.Duration(c.kato.Load()) / time.Millisecond)}
	case fid == featAsyncEvent:
		return response{result: uint64(c.aenCfg)}
	case fid == featNumQueues && !c.discovery:
		n := uint64(c.ioQueues - 1)
		return response{result: n | n<<16}
	case fid == featTempThresh && !c.discovery:
		if cmd.CDW11&(1<<20) != 0 { // under temperature threshold
			return response{result: 0}
		}
		return response{result: defaultWCTemp}
	}
	return fail(nvme.StatusInvalidField | nvme.StatusDNR)
}
