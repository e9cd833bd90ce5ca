package target

// The controller side of an NVMe/TCP connection: ICReq/ICResp, command
// capsules with in-capsule data, R2T and H2CData for writes, C2HData for
// reads, CapsuleResp, header and data digests, C2HTermReq on protocol
// errors. PDUs are read and validated by package nvme/tcp's Reader; the
// controller-to-host PDUs, which that package does not encode, are written
// here. Each command runs in its own goroutine and completes whenever it is
// done, so completions leave in any order.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// maxH2CData is the MAXH2CDATA the target advertises in ICResp.
const maxH2CData = 128 << 10

var errProtocol = errors.New("target: NVMe/TCP protocol error")

type tcpConn struct {
	nc      net.Conn
	wmu     sync.Mutex
	w       *bufio.Writer
	hd, dd  bool
	q       *conn
	wg      sync.WaitGroup
	pending map[uint16]*pendingWrite // by ttag
	nextTag uint16
	ncmds   uint64        // capsules received: the submission queue head
	active  chan struct{} // one token per outstanding command
	nresp   int           // responses sent
	badAt   int           // response number replaced by a malformed PDU (0: none)
}

type pendingWrite struct {
	cmd  nvme.Command
	data []byte
	got  int
}

func crc(b []byte) uint32 { return tcp.CRC32C(b) }

// serveTCP serves a connection until it fails or ctx is done.
// At most maxInFlight commands may be outstanding (executing or waiting for
// their data); a host that sends more is cut off, as nvmet-tcp does beyond
// twice the queue size.
func serveTCP(ctx context.Context, nc net.Conn, q *conn, malformedAfter, maxInFlight int) error {
	c := &tcpConn{nc: nc, w: bufio.NewWriterSize(nc, 64<<10), q: q,
		pending: make(map[uint16]*pendingWrite), active: make(chan struct{}, maxInFlight)}
	if malformedAfter > 0 {
		c.badAt = malformedAfter + 1
	}
	// When the connection ends, commands still executing (an outstanding
	// AER, a hung namespace) are abandoned: their context is cancelled.
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	defer c.wg.Wait()
	defer cancel()
	if err := c.handshake(); err != nil {
		return err
	}
	rd := tcp.NewReader(nc, maxH2CData)
	rd.SetDigests(c.hd, c.dd)
	for {
		p, err := rd.Next()
		var te *tcp.TermError
		if errors.As(err, &te) {
			c.term(te.FES, te.Offset)
			return err
		}
		if err != nil {
			return err
		}
		switch p.Type {
		case tcp.TypeCapsuleCmd:
			if len(p.Data) > inCapsuleSize {
				c.term(tcp.FESDataLimit, 0)
				return fmt.Errorf("%w: %d bytes of in-capsule data", errProtocol, len(p.Data))
			}
			var cmd nvme.Command
			cmd.UnmarshalBinary(p.Specific)
			select {
			case c.active <- struct{}{}:
			default:
				c.term(tcp.FESSequence, 0)
				return fmt.Errorf("%w: more than %d commands outstanding", errProtocol, maxInFlight)
			}
			c.ncmds++
			sgl := cmd.SGL()
			if cmd.DataDirection() == nvme.HostToController && sgl.Type == nvme.SGLTransportDataBlock && sgl.Length > 0 {
				if sgl.Length > maxTransfer {
					c.dispatch(ctx, cmd, nil, fail(nvme.StatusInvalidField|nvme.StatusDNR))
					continue
				}
				c.nextTag++
				c.pending[c.nextTag] = &pendingWrite{cmd: cmd, data: make([]byte, sgl.Length)}
				c.sendR2T(cmd.CID, c.nextTag, 0, sgl.Length)
				continue
			}
			c.dispatch(ctx, cmd, bytes.Clone(p.Data), response{})
		case tcp.TypeH2CData:
			dh := tcp.ParseDataHeader(p)
			pw := c.pending[dh.TTag]
			if pw == nil || int(dh.Length) != len(p.Data) || int(dh.Offset) != pw.got || pw.got+len(p.Data) > len(pw.data) {
				c.term(tcp.FESDataRange, 0)
				return fmt.Errorf("%w: H2CData out of range", errProtocol)
			}
			copy(pw.data[pw.got:], p.Data)
			pw.got += len(p.Data)
			if pw.got == len(pw.data) {
				delete(c.pending, dh.TTag)
				c.dispatch(ctx, pw.cmd, pw.data, response{})
			}
		case tcp.TypeH2CTermReq:
			return fmt.Errorf("%w: host terminated the connection: %w", errProtocol, tcp.ParseTermReq(p))
		default:
			c.term(tcp.FESInvalidHeader, 0)
			return fmt.Errorf("%w: unexpected PDU type %#x", errProtocol, uint8(p.Type))
		}
	}
}

func (c *tcpConn) handshake() error {
	var b [128]byte
	if _, err := io.ReadFull(c.nc, b[:]); err != nil {
		return err
	}
	if b[0] != byte(tcp.TypeICReq) || b[2] != 128 || binary.LittleEndian.Uint32(b[4:]) != 128 {
		return fmt.Errorf("%w: bad ICReq", errProtocol)
	}
	c.hd, c.dd = b[11]&1 != 0, b[11]&2 != 0
	var r [128]byte
	r[0], r[2] = byte(tcp.TypeICResp), 128
	binary.LittleEndian.PutUint32(r[4:], 128)
	r[11] = b[11] & 3
	binary.LittleEndian.PutUint32(r[12:], maxH2CData)
	c.w.Write(r[:])
	return c.w.Flush()
}

func (c *tcpConn) dispatch(ctx context.Context, cmd nvme.Command, data []byte, early response) {
	sqhead := c.q.sqHead(c.ncmds)
	c.wg.Go(func() {
		r := early
		if r.status == 0 {
			r = c.q.serve(ctx, &cmd, data)
		}
		if ctx.Err() == nil {
			c.respond(cmd.CID, sqhead, r)
		}
		<-c.active
	})
}

// header writes a PDU header with its digest.
func (c *tcpConn) header(h []byte) {
	if c.hd {
		h[1] |= tcp.FlagHDGST
		h = binary.LittleEndian.AppendUint32(h, crc(h))
	}
	c.w.Write(h)
}

func (c *tcpConn) sendR2T(cid, ttag uint16, off, n uint32) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	h := make([]byte, 24, 28)
	h[0], h[2] = byte(tcp.TypeR2T), 24
	plen := 24
	if c.hd {
		plen += 4
	}
	binary.LittleEndian.PutUint32(h[4:], uint32(plen))
	binary.LittleEndian.PutUint16(h[8:], cid)
	binary.LittleEndian.PutUint16(h[10:], ttag)
	binary.LittleEndian.PutUint32(h[12:], off)
	binary.LittleEndian.PutUint32(h[16:], n)
	c.header(h)
	c.w.Flush()
}

func (c *tcpConn) respond(cid, sqhead uint16, r response) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nresp++
	if c.nresp == c.badAt {
		// A CapsuleResp whose header length is wrong: the host must fail
		// the connection.
		h := make([]byte, 24)
		h[0], h[2] = byte(tcp.TypeCapsuleRsp), 23
		binary.LittleEndian.PutUint32(h[4:], 24)
		c.w.Write(h)
		c.w.Flush()
		return
	}
	hd := 0
	if c.hd {
		hd = 4
	}
	if len(r.data) > 0 && r.status == 0 {
		h := make([]byte, 24, 28)
		h[0], h[1], h[2], h[3] = byte(tcp.TypeC2HData), tcp.FlagDataLast, 24, byte(24+hd)
		dd := 0
		if c.dd {
			h[1] |= tcp.FlagDDGST
			dd = 4
		}
		binary.LittleEndian.PutUint32(h[4:], uint32(24+hd+len(r.data)+dd))
		binary.LittleEndian.PutUint16(h[8:], cid)
		binary.LittleEndian.PutUint32(h[16:], uint32(len(r.data)))
		c.header(h)
		c.w.Write(r.data)
		if c.dd {
			c.w.Write(binary.LittleEndian.AppendUint32(nil, crc(r.data)))
		}
	}
	h := make([]byte, 24, 28)
	h[0], h[2] = byte(tcp.TypeCapsuleRsp), 24
	binary.LittleEndian.PutUint32(h[4:], uint32(24+hd))
	cqe := nvme.Completion{Result: r.result, SQHead: sqhead, CID: cid, Status: r.status}
	cqe.AppendBinary(h[8:8])
	c.header(h)
	c.w.Flush()
}

func (c *tcpConn) term(fes tcp.FES, off uint32) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.w.Write(tcp.AppendTermReq(nil, tcp.TypeC2HTermReq, fes, off, nil))
	c.w.Flush()
}
