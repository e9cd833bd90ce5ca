package target

import (
	"errors"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// io executes an I/O command: Read, Write, Flush, Write Zeroes, Dataset
// Management.
func (c *controller) io(cmd *nvme.Command, data []byte) response {
	switch cmd.Opcode {
	case nvme.OpRead, nvme.OpWrite, nvme.OpFlush, nvme.OpWriteZeroes, nvme.OpDatasetManagement:
	default:
		return fail(nvme.StatusInvalidOpcode | nvme.StatusDNR)
	}
	if cmd.Opcode == nvme.OpFlush && cmd.NSID == nvme.NSIDAll {
		return response{}
	}
	ns := c.namespace(cmd.NSID)
	if ns == nil {
		return fail(nvme.StatusInvalidNamespace | nvme.StatusDNR)
	}
	if st := anaStatus(c.port.ANAState(ns.ANAGRPID)); st != 0 {
		return fail(st)
	}
	switch cmd.Opcode {
	case nvme.OpFlush:
		return c.flush(ns)
	case nvme.OpDatasetManagement:
		return c.datasetManagement(ns, cmd, data)
	}
	slba := uint64(cmd.CDW10) | uint64(cmd.CDW11)<<32
	nlb := uint64(cmd.CDW12&0xffff) + 1
	if !ns.within(slba, nlb) {
		return fail(nvme.StatusLBAOutOfRange | nvme.StatusDNR)
	}
	n := nlb * uint64(ns.BlockSize)
	off := int64(slba * uint64(ns.BlockSize))
	if cmd.Opcode == nvme.OpWriteZeroes {
		return c.writeZeroes(ns, off, int64(n))
	}
	if n > maxTransfer {
		return fail(nvme.StatusInvalidField | nvme.StatusDNR)
	}
	if uint64(cmd.SGL().Length) != n {
		return fail(nvme.StatusSGLInvalidData | nvme.StatusDNR)
	}
	units := n / 512
	st := &c.t.stats
	if cmd.Opcode == nvme.OpWrite {
		if uint64(len(data)) != n {
			return fail(nvme.StatusSGLInvalidData | nvme.StatusDNR)
		}
		if _, err := ns.data.WriteAt(data, off); err != nil {
			c.t.warn.log(c.t, "write failed", "subnqn", c.sub.cfg.NQN, "nsid", ns.NSID, "offset", off, "bytes", n, "err", err)
			return failIO(err, nvme.StatusWriteFault)
		}
		st.writes.Add(1)
		st.blocksWritten.Add(units)
		return response{}
	}
	b := tcp.GetBuffer(int(n)) // filled whole by ReadAt
	if _, err := ns.data.ReadAt(b, off); err != nil {
		tcp.PutBuffer(b)
		c.t.warn.log(c.t, "read failed", "subnqn", c.sub.cfg.NQN, "nsid", ns.NSID, "offset", off, "bytes", n, "err", err)
		return failIO(err, nvme.StatusUnrecoveredReadError)
	}
	st.reads.Add(1)
	st.blocksRead.Add(units)
	return response{data: b, release: tcp.PutBuffer}
}

// flush executes Flush: a backend with a Sync method (FileBackend)
// commits its data to stable storage.
func (c *controller) flush(ns *namespace) response {
	s, ok := ns.data.(interface{ Sync() error })
	if !ok {
		return response{}
	}
	if err := s.Sync(); err != nil {
		c.t.warn.log(c.t, "flush failed", "subnqn", c.sub.cfg.NQN, "nsid", ns.NSID, "err", err)
		return fail(nvme.StatusWriteFault)
	}
	return response{}
}

// failIO fails a command whose backend access returned err: with LBA
// Out of Range if a Resize shrank the namespace since the command's
// bounds were checked, with status otherwise.
func failIO(err error, status nvme.Status) response {
	if errors.Is(err, errBeyondEnd) {
		return fail(nvme.StatusLBAOutOfRange | nvme.StatusDNR)
	}
	return fail(status)
}

// within reports whether nlb blocks from slba lie within the namespace.
func (ns *namespace) within(slba, nlb uint64) bool {
	return slba < ns.blocks && nlb <= ns.blocks-slba
}
