package target

// A minimal NVMe/TCP host queue for the tests, used until package nvme/tcp
// provides NewHostQueue.

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/complchain/complchain/nvme"
)

type hostConfig struct{ HeaderDigest, DataDigest bool }

type hostCall struct {
	data []byte
	ch   chan nvme.Completion
}

type hostQueue struct {
	nc     net.Conn
	hd, dd bool
	wmu    sync.Mutex
	mu     sync.Mutex
	next   uint16
	calls  map[uint16]*hostCall
	done   chan struct{}
	err    error
	wg     sync.WaitGroup
}

var errHostClosed = errors.New("host queue closed")

func newHostQueue(_ context.Context, nc net.Conn, cfg hostConfig) (*hostQueue, error) {
	q := &hostQueue{nc: nc, hd: cfg.HeaderDigest, dd: cfg.DataDigest, calls: make(map[uint16]*hostCall), done: make(chan struct{})}
	var ic [128]byte
	ic[0], ic[2] = pduICReq, 128
	binary.LittleEndian.PutUint32(ic[4:], 128)
	if q.hd {
		ic[11] |= 1
	}
	if q.dd {
		ic[11] |= 2
	}
	if _, err := nc.Write(ic[:]); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(nc, ic[:]); err != nil || ic[0] != pduICResp {
		nc.Close()
		return nil, errors.New("bad ICResp")
	}
	q.wg.Go(q.read)
	return q, nil
}

func (q *hostQueue) Done() <-chan struct{} { return q.done }

func (q *hostQueue) Close() error {
	q.nc.Close()
	q.wg.Wait()
	return nil
}

func (q *hostQueue) fail(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err == nil {
		q.err = err
		close(q.done)
	}
}

func (q *hostQueue) send(h []byte, data []byte) error {
	q.wmu.Lock()
	defer q.wmu.Unlock()
	hlen := len(h)
	if q.hd {
		h[1] |= flagHDGST
		h = binary.LittleEndian.AppendUint32(h, crc(h))
	}
	plen := len(h)
	if len(data) > 0 {
		h[3] = byte(len(h))
		plen += len(data)
		if q.dd {
			h[1] |= flagDDGST
			plen += 4
		}
	}
	binary.LittleEndian.PutUint32(h[4:], uint32(plen))
	if q.hd {
		binary.LittleEndian.PutUint32(h[hlen:], crc(h[:hlen]))
	}
	b := append(h, data...)
	if len(data) > 0 && q.dd {
		b = binary.LittleEndian.AppendUint32(b, crc(data))
	}
	_, err := q.nc.Write(b)
	return err
}

func (q *hostQueue) Do(ctx context.Context, cmd *nvme.Command, data []byte) (nvme.Completion, error) {
	call := &hostCall{data: data, ch: make(chan nvme.Completion, 1)}
	q.mu.Lock()
	if q.err != nil {
		q.mu.Unlock()
		return nvme.Completion{}, q.err
	}
	for q.calls[q.next] != nil {
		q.next++
	}
	c := *cmd
	c.CID = q.next
	q.next++
	q.calls[c.CID] = call
	q.mu.Unlock()
	var inCapsule []byte
	if c.DataDirection() == nvme.HostToController && len(data) > 0 && len(data) <= 8192 {
		c.SetSGL(nvme.SGL{Length: uint32(len(data)), Type: nvme.SGLDataBlockOffset})
		inCapsule = data
	} else {
		c.SetSGL(nvme.SGL{Length: uint32(len(data)), Type: nvme.SGLTransportDataBlock})
	}
	h := make([]byte, 8, 72+4+len(inCapsule))
	h[0], h[2] = pduCmd, 72
	h, _ = c.AppendBinary(h)
	if err := q.send(h, inCapsule); err != nil {
		q.fail(err)
	}
	select {
	case cqe := <-call.ch:
		if cqe.Status != 0 {
			return cqe, cqe.Status
		}
		return cqe, nil
	case <-q.done:
		return nvme.Completion{}, q.err
	case <-ctx.Done():
		q.mu.Lock()
		delete(q.calls, c.CID)
		q.mu.Unlock()
		return nvme.Completion{}, ctx.Err()
	}
}

func (q *hostQueue) read() {
	defer q.fail(errHostClosed)
	hd := 0
	if q.hd {
		hd = 4
	}
	for {
		var ch [8]byte
		if _, err := io.ReadFull(q.nc, ch[:]); err != nil {
			q.fail(err)
			return
		}
		plen := int(binary.LittleEndian.Uint32(ch[4:]))
		if plen < 8 || plen > maxPDU {
			q.fail(errProtocol)
			return
		}
		b := make([]byte, plen)
		copy(b, ch[:])
		if _, err := io.ReadFull(q.nc, b[8:]); err != nil {
			q.fail(err)
			return
		}
		cid := binary.LittleEndian.Uint16(b[8:])
		if want := map[byte]byte{pduResp: 24, pduC2HData: 24, pduR2T: 24, pduC2HTerm: 24}[ch[0]]; ch[2] != want {
			q.fail(errProtocol)
			return
		}
		switch ch[0] {
		case pduResp:
			var cqe nvme.Completion
			cqe.UnmarshalBinary(b[8:24])
			q.mu.Lock()
			call := q.calls[cqe.CID]
			delete(q.calls, cqe.CID)
			q.mu.Unlock()
			if call != nil {
				call.ch <- cqe
			}
		case pduC2HData:
			off := binary.LittleEndian.Uint32(b[12:])
			n := binary.LittleEndian.Uint32(b[16:])
			pdo := int(ch[3])
			q.mu.Lock()
			call := q.calls[cid]
			q.mu.Unlock()
			if call != nil && int(off+n) <= len(call.data) && pdo+int(n) <= len(b) {
				copy(call.data[off:], b[pdo:pdo+int(n)])
			}
		case pduR2T:
			ttag := binary.LittleEndian.Uint16(b[10:])
			off := binary.LittleEndian.Uint32(b[12:])
			n := binary.LittleEndian.Uint32(b[16:])
			q.mu.Lock()
			call := q.calls[cid]
			q.mu.Unlock()
			if call == nil || int(off+n) > len(call.data) {
				q.fail(errProtocol)
				return
			}
			for sent := uint32(0); sent < n; {
				m := min(n-sent, maxH2CData)
				h := make([]byte, 24, 28)
				h[0], h[2] = pduH2CData, 24
				binary.LittleEndian.PutUint16(h[8:], cid)
				binary.LittleEndian.PutUint16(h[10:], ttag)
				binary.LittleEndian.PutUint32(h[12:], off+sent)
				binary.LittleEndian.PutUint32(h[16:], m)
				if sent+m == n {
					h[1] |= flagLast
				}
				if err := q.send(h, call.data[off+sent:off+sent+m]); err != nil {
					q.fail(err)
					return
				}
				sent += m
			}
		case pduC2HTerm:
			q.fail(errProtocol)
			return
		}
		_ = hd
	}
}
