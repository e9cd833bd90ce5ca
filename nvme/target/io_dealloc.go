package target

import (
	"github.com/complchain/complchain/nvme"
)

// writeZeroes executes Write Zeroes (NVM Command Set Specification
// 3.3.7) for n bytes at off: the backend zeroes them, deallocating them
// if it can, whether or not DEAC asks for it (DLFEAT says so).
func (c *controller) writeZeroes(ns *namespace, off, n int64) response {
	if err := zeroAt(ns.data, off, n); err != nil {
		c.t.warn.log(c.t, "write zeroes failed", "subnqn", c.sub.cfg.NQN, "nsid", ns.NSID, "offset", off, "bytes", n, "err", err)
		return failIO(err, nvme.StatusWriteFault)
	}
	return response{}
}

// datasetManagement executes Dataset Management (NVM Command Set
// Specification 3.3.3): with the AD bit it deallocates every range, after
// checking them all, and a backend that cannot deallocate ignores it, as
// the attributes without AD are ignored. The data must hold exactly NR+1
// ranges (SGL Data Block Invalid otherwise, as Linux's nvmet answers); a
// range beyond the namespace fails the command with LBA Out of Range and
// deallocates nothing.
func (c *controller) datasetManagement(ns *namespace, cmd *nvme.Command, data []byte) response {
	nr := int(cmd.CDW10&0xff) + 1
	if int(cmd.SGL().Length) != nr*nvme.DSMRangeSize {
		return fail(nvme.StatusSGLInvalidData | nvme.StatusDNR)
	}
	ranges, err := nvme.DSMRanges(data, nr)
	if err != nil {
		return fail(nvme.StatusSGLInvalidData | nvme.StatusDNR)
	}
	for _, r := range ranges {
		if r.Length > 0 && !ns.within(r.SLBA, uint64(r.Length)) {
			return fail(nvme.StatusLBAOutOfRange | nvme.StatusDNR)
		}
	}
	z, ok := ns.data.(Zeroer)
	if cmd.CDW11&nvme.DSMDeallocate == 0 || !ok {
		return response{}
	}
	bs := int64(ns.BlockSize)
	for _, r := range ranges {
		if r.Length == 0 {
			continue
		}
		if err := z.ZeroAt(int64(r.SLBA)*bs, int64(r.Length)*bs); err != nil {
			c.t.warn.log(c.t, "deallocate failed", "subnqn", c.sub.cfg.NQN, "nsid", ns.NSID, "slba", r.SLBA, "blocks", r.Length, "err", err)
			return failIO(err, nvme.StatusInternalError)
		}
	}
	return response{}
}
