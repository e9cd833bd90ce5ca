package target

import (
	"sync"
	"time"

	"github.com/complchain/complchain/nvme"
)

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

// identify executes Identify. The data is built in a pooled page, which
// the transport gives back once it has sent it.
func (c *controller) identify(cmd *nvme.Command) response {
	n, ok := transferLen(cmd)
	if !ok {
		return fail(nvme.StatusInvalidField | nvme.StatusDNR)
	}
	page := pages.Get().(*[nvme.IdentifySize]byte)
	b, st := c.identifyData(page[:0], cmd)
	if rewrite := c.t.faults.Load().Identify; rewrite != nil {
		b, st = rewrite(cmd, b, st)
	}
	if rewrite := c.subFaults().Identify; rewrite != nil {
		b, st = rewrite(cmd, b, st)
	}
	if st != 0 {
		pages.Put(page)
		return fail(st)
	}
	return response{data: clip(b, n), release: releasePage}
}

// identifyData appends the data Identify returns for cmd to b.
func (c *controller) identifyData(b []byte, cmd *nvme.Command) ([]byte, nvme.Status) {
	const invalidField, invalidNamespace = nvme.StatusInvalidField | nvme.StatusDNR, nvme.StatusInvalidNamespace | nvme.StatusDNR
	cns := cmd.IdentifyCNS()
	csi := cmd.CDW11 >> 24
	if c.discovery() && cns != nvme.CNSController {
		return nil, invalidField
	}
	switch cns {
	case nvme.CNSController:
		id := c.identifyController()
		b, _ = id.AppendBinary(b)
		return b, 0
	case nvme.CNSActiveNamespaces:
		if c.t.faults.Load().NoNSIDList || c.subFaults().NoNSIDList {
			return nil, invalidField
		}
		if cmd.NSID >= nvme.NSIDAll-1 {
			return nil, invalidNamespace
		}
		return nvme.AppendNSIDList(b, c.activeAfter(cmd.NSID, nvme.NSIDsPerList)), 0
	case nvme.CNSNamespace, nvme.CNSCSIndependentNS, nvme.CNSNSDescriptors:
		if cmd.NSID == 0 || (cmd.NSID > c.sub.cfg.MaxNSID && cmd.NSID != nvme.NSIDAll) ||
			(cmd.NSID == nvme.NSIDAll && cns != nvme.CNSNamespace) {
			return nil, invalidNamespace
		}
		var info nsInfo
		if ns := c.namespace(cmd.NSID); ns != nil {
			info = ns.info(true)
		}
		switch cns {
		case nvme.CNSNamespace:
			return appendIdentifyNamespace(b, &info), 0
		case nvme.CNSCSIndependentNS:
			return appendCSIndependent(b, &info), 0
		}
		if !info.active {
			return nil, invalidNamespace
		}
		return appendNSDescriptors(b, &info), 0
	case nvme.CNSCSController:
		if csi != 0 {
			return nil, invalidField
		}
		return append(b, make([]byte, nvme.IdentifySize)...), 0 // NVM command set: no extra limits
	}
	return nil, invalidField
}

// pages holds the pages Identify data is built in.
var pages = sync.Pool{New: func() any { return new([nvme.IdentifySize]byte) }}

// releasePage gives back the page b was built in, once sent.
func releasePage(b []byte) {
	if cap(b) >= nvme.IdentifySize {
		pages.Put((*[nvme.IdentifySize]byte)(b[:nvme.IdentifySize]))
	}
}

// getLogPage executes Get Log Page.
func (c *controller) getLogPage(q *conn, cmd *nvme.Command) response {
	lid, length, off := cmd.LogPage()
	rae := cmd.CDW10&(1<<15) != 0
	n, ok := transferLen(cmd)
	if !ok || length > maxTransfer || off%4 != 0 {
		return fail(nvme.StatusInvalidField | nvme.StatusDNR)
	}
	n = min(n, length)
	var b []byte
	switch {
	case lid == nvme.LogDiscovery && c.discovery():
		b, ok := c.t.discoveryLog(q, c.hostnqn, off, n)
		if !ok {
			return fail(nvme.StatusInvalidField | nvme.StatusDNR)
		}
		c.discoveryLogRead(rae)
		return response{data: b}
	case lid == nvme.LogSMART && !c.discovery():
		s := c.t.smartLog()
		b, _ = s.AppendBinary(nil)
	case lid == nvme.LogChangedNamespace && !c.discovery():
		b = c.changedLog(rae)
	case lid == nvme.LogANA && !c.discovery():
		b = c.anaLog(cmd.CDW10&(1<<8) != 0, rae)
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
	case fid == nvme.FeatureKeepAlive:
		c.setKATO(time.Duration(v) * time.Millisecond)
		return response{}
	case fid == nvme.FeatureAsyncEvent:
		c.mu.Lock()
		c.aenCfg = v
		c.mu.Unlock()
		return response{}
	case fid == nvme.FeatureNumberOfQueues && !c.discovery():
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
	case fid == nvme.FeatureKeepAlive:
		return response{result: uint64(time.Duration(c.kato.Load()) / time.Millisecond)}
	case fid == nvme.FeatureAsyncEvent:
		return response{result: uint64(c.aenCfg)}
	case fid == nvme.FeatureNumberOfQueues && !c.discovery():
		n := uint64(c.ioQueues - 1)
		return response{result: n | n<<16}
	case fid == featTempThresh && !c.discovery():
		if cmd.CDW11&(1<<20) != 0 { // under temperature threshold
			return response{result: 0}
		}
		return response{result: defaultWCTemp}
	}
	return fail(nvme.StatusInvalidField | nvme.StatusDNR)
}
