package target

import (
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// io executes an I/O command: Read, Write, Flush.
func (c *controller) io(cmd *nvme.Command, data []byte) response {
	switch cmd.Opcode {
	case nvme.OpRead, nvme.OpWrite, nvme.OpFlush:
	default:
		return fail(nvme.StatusInvalidOpcode | nvme.StatusDNR)
	}
	if cmd.Opcode == nvme.OpFlush && cmd.NSID == nvme.NSIDAll {
		return response{}
	}
	ns := c.sub.namespace(cmd.NSID)
	if ns == nil {
		return fail(nvme.StatusInvalidNamespace | nvme.StatusDNR)
	}
	if st := anaStatus(c.port.ANAState(ns.ANAGRPID)); st != 0 {
		return fail(st)
	}
	if cmd.Opcode == nvme.OpFlush {
		return response{}
	}
	slba := uint64(cmd.CDW10) | uint64(cmd.CDW11)<<32
	nlb := uint64(cmd.CDW12&0xffff) + 1
	if slba >= ns.blocks || nlb > ns.blocks-slba {
		return fail(nvme.StatusLBAOutOfRange | nvme.StatusDNR)
	}
	n := nlb * uint64(ns.BlockSize)
	if n > maxTransfer {
		return fail(nvme.StatusInvalidField | nvme.StatusDNR)
	}
	if uint64(cmd.SGL().Length) != n {
		return fail(nvme.StatusSGLInvalidData | nvme.StatusDNR)
	}
	off := slba * uint64(ns.BlockSize)
	units := n / 512
	st := &c.t.stats
	if cmd.Opcode == nvme.OpWrite {
		if uint64(len(data)) != n {
			return fail(nvme.StatusSGLInvalidData | nvme.StatusDNR)
		}
		ns.data.writeAt(data, off)
		st.writes.Add(1)
		st.blocksWritten.Add(units)
		return response{}
	}
	b := tcp.GetBuffer(int(n)) // filled whole by readAt
	ns.data.readAt(b, off)
	st.reads.Add(1)
	st.blocksRead.Add(units)
	return response{data: b, release: tcp.PutBuffer}
}
