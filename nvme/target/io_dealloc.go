package target

import (
	"cmp"
	"errors"
	"slices"

	"github.com/complchain/complchain/nvme"
)

// writeZeroes executes Write Zeroes (NVM Command Set Specification
// 3.3.7) for n bytes at off: the backend deallocates them if it can,
// whether or not DEAC asks for it (DLFEAT says so when it always can),
// and has zeros written otherwise.
func (c *controller) writeZeroes(ns *namespace, off, n int64) response {
	if err := zeroAt(ns.data, off, n); err != nil {
		c.t.warn.log(c.t, "write zeroes failed", "subnqn", c.sub.cfg.NQN, "nsid", ns.NSID, "offset", off, "bytes", n, "err", err)
		return failIO(err, nvme.StatusWriteFault)
	}
	return response{}
}

// datasetManagement executes Dataset Management (NVM Command Set
// Specification 3.3.3): with the AD bit it deallocates every range, after
// checking them all. Deallocation is a hint: a backend that cannot
// deallocate (no Deallocator, or one whose Deallocate is unsupported and
// that does not claim Deallocates) ignores it, as the attributes without
// AD are ignored, and nothing is written. The data must hold exactly NR+1
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
	d, ok := ns.data.(Deallocator)
	if cmd.CDW11&nvme.DSMDeallocate == 0 || !ok {
		return response{}
	}
	bs := int64(ns.BlockSize)
	for _, r := range coalesce(ranges) {
		err := d.Deallocate(int64(r.start)*bs, int64(r.end-r.start)*bs)
		if errors.Is(err, errors.ErrUnsupported) && !d.Deallocates() {
			return response{} // a hint the backend cannot take
		}
		if err != nil {
			c.t.warn.log(c.t, "deallocate failed", "subnqn", c.sub.cfg.NQN, "nsid", ns.NSID, "slba", r.start, "blocks", r.end-r.start, "err", err)
			return failIO(err, nvme.StatusInternalError)
		}
	}
	return response{}
}

// blockSpan is the logical blocks from start up to end, excluded.
type blockSpan struct{ start, end uint64 }

// coalesce returns the blocks the non-empty ranges cover, each block
// once, in increasing order: a command of 256 ranges that overlap
// deallocates each block once. The ranges are within the namespace.
func coalesce(ranges []nvme.DSMRange) []blockSpan {
	var spans []blockSpan
	for _, r := range ranges {
		if r.Length > 0 {
			spans = append(spans, blockSpan{r.SLBA, r.SLBA + uint64(r.Length)})
		}
	}
	slices.SortFunc(spans, func(a, b blockSpan) int { return cmp.Compare(a.start, b.start) })
	out := spans[:0]
	for _, s := range spans {
		if n := len(out); n > 0 && s.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, s.end)
			continue
		}
		out = append(out, s)
	}
	return out
}
