package target

// Temporary target side of NVMe/TCP, used until package nvme/tcp provides
// ServeTarget. It implements what a Linux host needs: ICReq/ICResp, command
// capsules with in-capsule data, R2T/H2CData for writes, C2HData for reads,
// CapsuleResp, header and data digests.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"sync"

	"github.com/complchain/complchain/nvme"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	pduICReq      = 0x00
	pduICResp     = 0x01
	pduH2CTerm    = 0x02
	pduC2HTerm    = 0x03
	pduCmd        = 0x04
	pduResp       = 0x05
	pduH2CData    = 0x06
	pduC2HData    = 0x07
	pduR2T        = 0x09
	flagHDGST     = 1 << 0
	flagDDGST     = 1 << 1
	flagLast      = 1 << 2
	maxH2CData    = 128 << 10
	maxPDU        = maxTransfer + 256
	errTermHeader = 0x01
)

var errProtocol = errors.New("target: NVMe/TCP protocol error")

type tempConn struct {
	nc      net.Conn
	r       *bufio.Reader
	wmu     sync.Mutex
	w       *bufio.Writer
	hd, dd  bool
	q       *conn
	wg      sync.WaitGroup
	pending map[uint16]*tempWrite // by ttag
	nextTag uint16
	sqhead  uint16
	active  chan struct{} // one token per outstanding command
	nresp   int           // responses sent
	badAt   int           // response number replaced by a malformed PDU (0: none)
	hdr     [72 + 4]byte
}

type tempWrite struct {
	cmd  nvme.Command
	data []byte
	got  int
}

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// serveTemp serves a connection until it fails or ctx is done.
// At most maxInFlight commands may be outstanding (executing or waiting for
// their data); a host that sends more is cut off, as nvmet-tcp does beyond
// twice the queue size.
func serveTemp(ctx context.Context, nc net.Conn, q *conn, malformedAfter, maxInFlight int) error {
	c := &tempConn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10), q: q,
		pending: make(map[uint16]*tempWrite), active: make(chan struct{}, maxInFlight)}
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
	for {
		var ch [8]byte
		if _, err := io.ReadFull(c.r, ch[:]); err != nil {
			return err
		}
		typ, flags, hlen, pdo := ch[0], ch[1], int(ch[2]), int(ch[3])
		plen := int(binary.LittleEndian.Uint32(ch[4:]))
		hd := 0
		if c.hd {
			hd = 4
		}
		want := map[byte]int{pduCmd: 72, pduH2CData: 24, pduH2CTerm: 24}[typ]
		if want == 0 || hlen != want || plen < hlen+hd || plen > maxPDU || (pdo != 0 && (pdo < hlen+hd || pdo > plen)) {
			c.term(errTermHeader, 0)
			return fmt.Errorf("%w: PDU type %d hlen %d plen %d", errProtocol, typ, hlen, plen)
		}
		if typ == pduH2CTerm {
			return fmt.Errorf("%w: host terminated the connection", errProtocol)
		}
		h := c.hdr[:hlen+hd]
		copy(h, ch[:])
		if _, err := io.ReadFull(c.r, h[8:]); err != nil {
			return err
		}
		if c.hd && (flags&flagHDGST == 0 || binary.LittleEndian.Uint32(h[hlen:]) != crc(h[:hlen])) {
			c.term(0x03, 0)
			return fmt.Errorf("%w: header digest", errProtocol)
		}
		var data []byte
		if pdo != 0 {
			if _, err := io.CopyN(io.Discard, c.r, int64(pdo-hlen-hd)); err != nil {
				return err
			}
			dd := 0
			if c.dd && flags&flagDDGST != 0 {
				dd = 4
			}
			n := plen - pdo - dd
			if n < 0 || (typ == pduCmd && n > inCapsuleSize) || (typ == pduH2CData && n > maxH2CData) {
				c.term(0x05, 0)
				return fmt.Errorf("%w: %d bytes of data in a PDU", errProtocol, n)
			}
			data = make([]byte, n+dd)
			if _, err := io.ReadFull(c.r, data); err != nil {
				return err
			}
			if dd == 4 && binary.LittleEndian.Uint32(data[n:]) != crc(data[:n]) {
				c.term(0x03, 0)
				return fmt.Errorf("%w: data digest", errProtocol)
			}
			data = data[:n]
		}
		switch typ {
		case pduCmd:
			var cmd nvme.Command
			cmd.UnmarshalBinary(h[8:72])
			select {
			case c.active <- struct{}{}:
			default:
				c.term(0x02, 0)
				return fmt.Errorf("%w: more than %d commands outstanding", errProtocol, maxInFlight)
			}
			c.sqhead++
			sgl := cmd.SGL()
			if cmd.DataDirection() == nvme.HostToController && sgl.Type == nvme.SGLTransportDataBlock && sgl.Length > 0 {
				if sgl.Length > maxTransfer {
					c.dispatch(ctx, cmd, nil, fail(nvme.StatusInvalidField|nvme.StatusDNR))
					continue
				}
				c.nextTag++
				c.pending[c.nextTag] = &tempWrite{cmd: cmd, data: make([]byte, sgl.Length)}
				c.sendR2T(cmd.CID, c.nextTag, 0, sgl.Length)
				continue
			}
			c.dispatch(ctx, cmd, data, response{})
		case pduH2CData:
			ttag := binary.LittleEndian.Uint16(h[10:])
			off := int(binary.LittleEndian.Uint32(h[12:]))
			n := int(binary.LittleEndian.Uint32(h[16:]))
			pw := c.pending[ttag]
			if pw == nil || n != len(data) || off != pw.got || off+n > len(pw.data) {
				c.term(0x04, 0)
				return fmt.Errorf("%w: H2CData out of range", errProtocol)
			}
			copy(pw.data[off:], data)
			pw.got += n
			if pw.got == len(pw.data) {
				delete(c.pending, ttag)
				c.dispatch(ctx, pw.cmd, pw.data, response{})
			}
		}
	}
}

func (c *tempConn) handshake() error {
	var b [128]byte
	if _, err := io.ReadFull(c.r, b[:]); err != nil {
		return err
	}
	if b[0] != pduICReq || b[2] != 128 || binary.LittleEndian.Uint32(b[4:]) != 128 {
		return fmt.Errorf("%w: bad ICReq", errProtocol)
	}
	c.hd, c.dd = b[11]&1 != 0, b[11]&2 != 0
	var r [128]byte
	r[0], r[2] = pduICResp, 128
	binary.LittleEndian.PutUint32(r[4:], 128)
	r[11] = b[11] & 3
	binary.LittleEndian.PutUint32(r[12:], maxH2CData)
	c.w.Write(r[:])
	return c.w.Flush()
}

func (c *tempConn) dispatch(ctx context.Context, cmd nvme.Command, data []byte, early response) {
	sqhead := c.sqhead
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
func (c *tempConn) header(h []byte) {
	if c.hd {
		h[1] |= flagHDGST
		h = binary.LittleEndian.AppendUint32(h, crc(h))
	}
	c.w.Write(h)
}

func (c *tempConn) sendR2T(cid, ttag uint16, off, n uint32) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	h := make([]byte, 24, 28)
	h[0], h[2] = pduR2T, 24
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

func (c *tempConn) respond(cid, sqhead uint16, r response) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nresp++
	if c.nresp == c.badAt {
		// A CapsuleResp whose header length is wrong: the host must fail
		// the connection.
		h := make([]byte, 24)
		h[0], h[2] = pduResp, 23
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
		h[0], h[1], h[2], h[3] = pduC2HData, flagLast, 24, byte(24+hd)
		dd := 0
		if c.dd {
			h[1] |= flagDDGST
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
	h[0], h[2] = pduResp, 24
	binary.LittleEndian.PutUint32(h[4:], uint32(24+hd))
	cqe := nvme.Completion{Result: r.result, SQHead: sqhead, CID: cid, Status: r.status}
	cqe.AppendBinary(h[8:8])
	c.header(h)
	c.w.Flush()
}

func (c *tempConn) term(fes uint16, off uint32) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	h := make([]byte, 24)
	h[0], h[2] = pduC2HTerm, 24
	binary.LittleEndian.PutUint32(h[4:], 24)
	binary.LittleEndian.PutUint16(h[8:], fes)
	binary.LittleEndian.PutUint32(h[10:], off)
	c.w.Write(h)
	c.w.Flush()
}
