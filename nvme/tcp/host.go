package tcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/complchain/complchain/nvme"
)

// ErrClosed is returned by Do on a queue that was closed.
var ErrClosed = errors.New("nvme/tcp: queue closed")

// ErrTimeout is returned by Do for a command the controller did not answer
// within HostConfig.Timeout.
var ErrTimeout = errors.New("nvme/tcp: command timed out")

// ErrShortTransfer is wrapped by the error of a command the controller
// completed successfully without moving all its data: a read that received
// fewer bytes than its buffer holds, or a write whose R2Ts asked for less
// than its data. Only that command fails; the bytes of the buffer that
// were not received are zeroed.
var ErrShortTransfer = errors.New("nvme/tcp: short transfer")

// HostConfig configures a host queue. The zero value asks for no digests,
// 32 commands in flight and 8 KiB of in-capsule data.
type HostConfig struct {
	HeaderDigest, DataDigest bool
	// Depth is the number of commands that may be in flight at once; Do
	// blocks while that many are outstanding. 0 means 32.
	Depth int
	// InCapsuleSize is the largest write sent as in-capsule data; larger
	// writes wait for the controller's R2T. 0 means 8192, the size Linux
	// uses for admin queues.
	InCapsuleSize int
	// MaxData bounds the data a single PDU from the controller may carry.
	// 0 means 1 MiB.
	MaxData int
	// Timeout, if positive, bounds each command but Asynchronous Event
	// Requests, which a controller holds until an event: Do (or Wait)
	// fails with ErrTimeout once the command has waited Timeout for a
	// command identifier or for its completion. Expiry is checked by one
	// timer per queue, not one per command, so a command times out
	// between Timeout and Timeout + max(Timeout/8, 1 ms) after it was
	// started. The command identifier of a timed-out command stays
	// reserved until the controller answers it and its Wait returned.
	Timeout time.Duration
}

// A HostQueue is the host side of one NVMe/TCP queue (admin or I/O). Any
// number of goroutines may call Do at once: commands are pipelined on the
// connection and their completions matched by command identifier, in
// whatever order the controller sends them.
type HostQueue struct {
	conn    net.Conn
	cfg     HostConfig
	maxH2C  int
	dg      Digests
	free    chan uint16 // free command identifiers: also the depth limit
	slots   []slot
	w       *batchWriter
	done    chan struct{}
	errOnce sync.Once
	err     error
	wg      sync.WaitGroup
}

// result is what a command's waiter receives.
type result struct {
	c        nvme.Completion
	err      error // why the command failed though the controller answered
	timedOut bool  // no answer yet: the command identifier stays reserved
}

type slotState uint8

const (
	slotIdle slotState = iota
	slotWaiting
	slotAbandoned // its Wait returned: the reader frees the CID on the answer
	slotExpired   // timed out: res holds the timeout for its Wait
	slotLate      // timed out, then answered: its Wait frees the CID
)

type slot struct {
	mu        sync.Mutex
	state     slotState
	read      []byte    // where C2HData goes
	write     []byte    // what R2T asks for
	got       int       // bytes of read received
	asked     int       // bytes of write asked for by R2Ts
	sent      int       // end of the last R2T: the next may not start before it
	badDigest bool      // a C2HData PDU of the command failed its data digest
	deadline  time.Time // when a waiting command times out; zero: never
	res       chan result
	notify    func() // StartFunc's done, called once res holds the result
}

// NewHostQueue starts a host queue on conn: it sends ICReq, checks ICResp
// as Linux does (matching digests, CPDA 0, MAXH2CDATA a multiple of 4 of at
// least 4096) and starts the queue's reader and writer. The queue owns conn
// from then on. ctx bounds the exchange (10 s if it has no deadline).
func NewHostQueue(ctx context.Context, conn net.Conn, cfg HostConfig) (*HostQueue, error) {
	if cfg.Depth <= 0 {
		cfg.Depth = 32
	}
	if cfg.Depth > 65535 {
		cfg.Depth = 65535
	}
	if cfg.InCapsuleSize <= 0 {
		cfg.InCapsuleSize = 8192
	}
	if cfg.MaxData <= 0 {
		cfg.MaxData = 1 << 20
	}
	q := &HostQueue{conn: conn, cfg: cfg, dg: Digests{cfg.HeaderDigest, cfg.DataDigest},
		free: make(chan uint16, cfg.Depth), slots: make([]slot, cfg.Depth),
		done: make(chan struct{})}
	for i := range q.slots {
		q.slots[i].res = make(chan result, 1)
		q.free <- uint16(i)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	var digests uint8
	if cfg.HeaderDigest {
		digests |= DigestHeader
	}
	if cfg.DataDigest {
		digests |= DigestData
	}
	r := NewReader(conn, cfg.MaxData)
	resp, err := q.handshake(r, digests)
	if !stop() {
		// ctx ended during the exchange and its AfterFunc has moved (or is
		// moving) the deadline to the past: the connection is unusable
		// even if the exchange got through.
		if err == nil {
			err = ctx.Err()
		} else {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	q.maxH2C = int(resp.MaxH2CData)
	r.SetDigests(q.dg.Header, q.dg.Data)
	q.w = newBatchWriter(conn, func(err error) { q.fail(fmt.Errorf("nvme/tcp: write: %w", err), nil) })
	q.wg.Add(1)
	go q.readLoop(r)
	if cfg.Timeout > 0 {
		q.wg.Add(1)
		go q.expire(max(cfg.Timeout/8, time.Millisecond))
	}
	return q, nil
}

func (q *HostQueue) handshake(r *Reader, digests uint8) (ICResp, error) {
	if _, err := q.conn.Write(AppendICReq(nil, ICReq{Digests: digests})); err != nil {
		return ICResp{}, fmt.Errorf("nvme/tcp: send ICReq: %w", err)
	}
	p, err := r.Next()
	if err != nil {
		return ICResp{}, fmt.Errorf("nvme/tcp: read ICResp: %w", err)
	}
	if p.Type == TypeC2HTermReq {
		return ICResp{}, ParseTermReq(p)
	}
	resp, err := ParseICResp(p)
	switch {
	case err != nil:
		return resp, err
	case resp.PFV != 0:
		return resp, protoErr(FESUnsupportedParams, 8, "ICResp PFV %d", resp.PFV)
	case resp.Digests != digests:
		return resp, protoErr(FESUnsupportedParams, 11, "controller answered digests %#x to a request for %#x", resp.Digests, digests)
	case resp.CPDA != 0:
		return resp, protoErr(FESUnsupportedParams, 10, "CPDA %d is not supported", resp.CPDA)
	case resp.MaxH2CData < MinMaxH2CData || resp.MaxH2CData%4 != 0:
		return resp, protoErr(FESUnsupportedParams, 12, "MAXH2CDATA %d", resp.MaxH2CData)
	}
	return resp, nil
}

// Depth returns the number of commands the queue keeps in flight at most.
func (q *HostQueue) Depth() int { return q.cfg.Depth }

// Free returns how many command identifiers are free now: a Start of
// that many commands would not wait for one, unless others start
// commands meanwhile. Identifiers of commands that timed out are not
// free until the controller answers them.
func (q *HostQueue) Free() int { return len(q.free) }

// Done returns a channel closed when the queue has stopped, because of
// Close or of a transport error.
func (q *HostQueue) Done() <-chan struct{} { return q.done }

// Err returns why the queue stopped, or nil while it runs.
func (q *HostQueue) Err() error {
	select {
	case <-q.done:
		return q.err
	default:
		return nil
	}
}

// Close closes the connection and fails every outstanding command with
// ErrClosed. It waits for the queue's goroutines to exit.
func (q *HostQueue) Close() error {
	q.fail(ErrClosed, nil)
	q.w.close()
	q.wg.Wait()
	return nil
}

// fail stops the queue with err, first sending term (a TermReq) if any.
func (q *HostQueue) fail(err error, term []byte) {
	q.errOnce.Do(func() {
		q.err = err
		close(q.done)
		if term != nil {
			q.send(func(b []byte) []byte { return append(b, term...) })
			q.conn.SetWriteDeadline(time.Now().Add(time.Second)) // a peer that stopped reading cannot hold us
			q.w.close()
		}
		q.conn.Close()
	})
}

// Do sends cmd and waits for its completion. It sets the command
// identifier and the data pointer itself: data is filled by the controller
// for a command that reads (controller to host), and sent, in the capsule
// or on the controller's R2T, for one that writes.
//
// Do returns a nil error only if the command succeeded. A command that
// failed returns its nvme.Status as the error (match it with errors.As).
// Two failures concern the command alone and leave the queue running: data
// that failed its data digest (an error wrapping ErrDataDigest and
// nvme.StatusTransientTransport, whatever the controller's status), and a
// success without all the data (ErrShortTransfer). A transport failure
// fails every outstanding command with an error wrapping its cause (a
// *TermError for a protocol error). If ctx is done first, Do returns
// ctx.Err(); the command identifier stays reserved until the controller
// answers, so it is never reused early.
func (q *HostQueue) Do(ctx context.Context, cmd *nvme.Command, data []byte) (nvme.Completion, error) {
	return q.Start(ctx, cmd, data).Wait(ctx)
}

// A Call is a command sent by Start. Its zero value is not a call.
type Call struct {
	q   *HostQueue
	cid uint16
	err error // why the command was not sent
}

// Start sends cmd as Do does but returns without waiting for the
// completion, so that one goroutine can have several commands in flight;
// Wait on the returned Call waits for it. Start blocks only while every
// command identifier is in use. Each Call must be waited for, once:
// until then its data buffer belongs to the queue.
func (q *HostQueue) Start(ctx context.Context, cmd *nvme.Command, data []byte) Call {
	return q.start(ctx, cmd, data, nil)
}

// StartFunc is Start, and calls done once the command's result is in, so
// that Wait returns without blocking: a caller with many commands in
// flight learns which are answered with no goroutine parked per command.
// done is called once, from one of the queue's goroutines (or from
// StartFunc itself for a command it could not send), and must not block.
// It is never called for a command whose Wait returned without its
// result (on its context, or as the queue stopped), and may never be for
// a command still unanswered when the queue stops (Done is closed); it
// may run just after a Wait that took the result returned. A panic in
// done is not recovered: it ends the program from the goroutine that
// called done, with the queue's reader stopped in mid-PDU.
func (q *HostQueue) StartFunc(ctx context.Context, cmd *nvme.Command, data []byte, done func()) Call {
	call := q.start(ctx, cmd, data, done)
	if call.err != nil {
		done()
	}
	return call
}

func (q *HostQueue) start(ctx context.Context, cmd *nvme.Command, data []byte, done func()) Call {
	var deadline time.Time
	if q.cfg.Timeout > 0 && cmd.Opcode != nvme.OpAsyncEvent {
		deadline = time.Now().Add(q.cfg.Timeout)
	}
	cid, err := q.takeCID(ctx, deadline)
	if err != nil {
		return Call{err: err}
	}
	s := &q.slots[cid]
	c := *cmd
	c.CID = cid
	var inCapsule []byte
	switch dir := c.DataDirection(); {
	case len(data) == 0:
		c.SetSGL(nvme.SGL{Type: nvme.SGLTransportDataBlock})
	case dir == nvme.HostToController && (len(data) <= q.cfg.InCapsuleSize || c.Opcode == nvme.OpFabrics):
		c.SetSGL(nvme.SGL{Length: uint32(len(data)), Type: nvme.SGLDataBlockOffset})
		inCapsule = data
	default:
		c.SetSGL(nvme.SGL{Length: uint32(len(data)), Type: nvme.SGLTransportDataBlock})
	}
	s.mu.Lock()
	s.state = slotWaiting
	s.notify = done
	s.read, s.write, s.deadline = nil, nil, deadline
	s.got, s.asked, s.sent, s.badDigest = 0, 0, 0, false
	if c.DataDirection() == nvme.HostToController {
		if inCapsule == nil {
			s.write = data // sent on R2T
		}
	} else {
		s.read = data
	}
	s.mu.Unlock()
	q.send(func(b []byte) []byte { return q.dg.AppendCapsuleCmd(b, &c, inCapsule) })
	return Call{q: q, cid: cid}
}

// Wait waits for the completion of the call's command and returns what
// Do returns. If ctx is done first, Wait returns ctx.Err() and the
// command identifier stays reserved until the controller answers; if the
// queue stops first, Wait returns why (Err). Either way the data buffer
// is the caller's again once Wait returns.
func (call Call) Wait(ctx context.Context) (nvme.Completion, error) {
	q, cid := call.q, call.cid
	if call.err != nil || q == nil {
		if call.err == nil {
			call.err = errors.New("nvme/tcp: Wait on a Call that Start did not return")
		}
		return nvme.Completion{}, call.err
	}
	s := &q.slots[cid]
	select {
	case res := <-s.res: // answered already: no select over three channels
		return q.finish(cid, res)
	default:
	}
	select {
	case res := <-s.res:
		return q.finish(cid, res)
	case <-q.done:
		return q.giveUp(cid, q.err)
	case <-ctx.Done():
		return q.giveUp(cid, ctx.Err())
	}
}

// giveUp ends a Wait that stops waiting for the command in slot cid with
// err, abandoning the command: the reader, which may still handle PDUs
// it read before the queue stopped, then neither writes into its data
// nor calls its done function. If the result came in meanwhile, giveUp
// returns it instead.
func (q *HostQueue) giveUp(cid uint16, err error) (nvme.Completion, error) {
	s := &q.slots[cid]
	s.mu.Lock()
	if s.state == slotWaiting {
		s.abandon()
		s.mu.Unlock()
		return nvme.Completion{}, err
	}
	s.mu.Unlock()
	return q.finish(cid, <-s.res) // answered, or timed out, just now
}

// takeCID takes a free command identifier, waiting for one until ctx is
// done or deadline (if not zero) passes.
func (q *HostQueue) takeCID(ctx context.Context, deadline time.Time) (uint16, error) {
	select {
	case cid := <-q.free:
		return cid, nil
	default:
	}
	var expired <-chan time.Time
	if !deadline.IsZero() {
		t := timers.Get().(*time.Timer)
		t.Reset(time.Until(deadline))
		defer func() {
			t.Stop() // since Go 1.23 no stale tick survives Stop
			timers.Put(t)
		}()
		expired = t.C
	}
	select {
	case cid := <-q.free:
		return cid, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-q.done:
		return 0, q.err
	case <-expired:
		return 0, fmt.Errorf("%w: all %d command identifiers in use", ErrTimeout, len(q.slots))
	}
}

// timers are stopped timers for takeCID: a Start that waits for a command
// identifier, as a scan's do once the queue is full, allocates none.
var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// finish returns what Do returns for a command whose result arrived.
func (q *HostQueue) finish(cid uint16, res result) (nvme.Completion, error) {
	if res.timedOut {
		// The CID stays reserved until the controller answers, which it
		// may have done since the timeout.
		s := &q.slots[cid]
		s.mu.Lock()
		late := s.state == slotLate
		if late {
			s.state = slotIdle
		} else {
			s.state = slotAbandoned
		}
		s.mu.Unlock()
		if late {
			q.free <- cid
		}
		return nvme.Completion{}, ErrTimeout
	}
	q.free <- cid
	if res.err != nil {
		return res.c, res.err
	}
	if res.c.Status != 0 {
		return res.c, res.c.Status
	}
	return res.c, nil
}

// abandon gives up waiting for the command in s: the reader frees its
// CID when the answer comes. s.mu must be held.
func (s *slot) abandon() {
	s.state = slotAbandoned
	s.notify = nil
	s.write = bytes.Clone(s.write) // an R2T may still ask for it; the caller owns data again
}

// expire fails the commands that have waited past their deadline,
// checking every tick, until the queue stops.
func (q *HostQueue) expire(tick time.Duration) {
	defer q.wg.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-q.done:
			return
		case now := <-t.C:
			for i := range q.slots {
				s := &q.slots[i]
				s.mu.Lock()
				var notify func()
				if s.state == slotWaiting && !s.deadline.IsZero() && now.After(s.deadline) {
					notify = s.notify
					s.abandon()
					s.state = slotExpired // the CID is not freed before its Wait
					s.res <- result{timedOut: true}
				}
				s.mu.Unlock()
				if notify != nil {
					notify()
				}
			}
		}
	}
}

// send queues PDUs for the writer goroutine, which sends everything queued
// in one write, so concurrent commands share system calls.
func (q *HostQueue) send(appendPDU func([]byte) []byte) { q.w.send(appendPDU) }

func (q *HostQueue) readLoop(r *Reader) {
	defer q.wg.Done()
	for {
		p, err := r.Next()
		badDigest := errors.Is(err, ErrDataDigest)
		if err != nil && !badDigest {
			var te *TermError
			if errors.As(err, &te) {
				q.fail(te, AppendTermReq(nil, TypeH2CTermReq, te.FES, te.Offset, nil))
				return
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			q.fail(fmt.Errorf("nvme/tcp: connection lost: %w", err), nil)
			return
		}
		if err := q.handle(p, badDigest); err != nil {
			q.fail(err, AppendTermReq(nil, TypeH2CTermReq, err.FES, err.Offset, nil))
			return
		}
	}
}

func (q *HostQueue) slot(cid uint16, off uint32) (*slot, *TermError) {
	if int(cid) >= len(q.slots) {
		return nil, protoErr(FESInvalidHeader, off, "command identifier %d was never sent", cid)
	}
	return &q.slots[cid], nil
}

// handle processes one PDU from the controller. badDigest says its data
// failed the data digest: the data is dropped and the command it belongs
// to fails, with Transient Transport Error, when it completes.
func (q *HostQueue) handle(p PDU, badDigest bool) *TermError {
	switch p.Type {
	case TypeCapsuleRsp:
		var c nvme.Completion
		c.UnmarshalBinary(p.Specific)
		return q.complete(c.CID, c, 20) // CQE CID at byte 20 of the PDU
	case TypeC2HData:
		h := ParseDataHeader(p)
		s, err := q.slot(h.CID, 8)
		if err != nil {
			return err
		}
		s.mu.Lock()
		switch {
		case s.state == slotIdle || s.state == slotLate:
			s.mu.Unlock()
			return protoErr(FESSequence, 8, "C2HData for idle command %d", h.CID)
		case int(h.Length) != len(p.Data):
			s.mu.Unlock()
			return protoErr(FESInvalidHeader, 16, "C2HData length %d with %d bytes of data", h.Length, len(p.Data))
		case s.state == slotWaiting && (int(h.Offset) != s.got || int(h.Offset)+len(p.Data) > len(s.read)):
			s.mu.Unlock()
			return protoErr(FESDataRange, 12, "C2HData offset %d length %d for a %d-byte read at %d", h.Offset, h.Length, len(s.read), s.got)
		case s.state == slotWaiting:
			if badDigest {
				s.badDigest = true
			} else {
				copy(s.read[h.Offset:], p.Data)
			}
			s.got += len(p.Data)
		}
		s.mu.Unlock()
		if p.Flags&FlagDataSuccess != 0 {
			if p.Flags&FlagDataLast == 0 {
				return protoErr(FESInvalidHeader, 1, "SUCCESS flag without LAST_PDU")
			}
			return q.complete(h.CID, nvme.Completion{CID: h.CID}, 8)
		}
	case TypeR2T:
		h := ParseDataHeader(p)
		s, err := q.slot(h.CID, 8)
		if err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		// As Linux: no R2T of zero bytes, none beyond the data, none
		// going back over data already asked for.
		if s.state == slotIdle || s.state == slotLate || uint64(h.Offset)+uint64(h.Length) > uint64(len(s.write)) || h.Length == 0 || int(h.Offset) < s.sent {
			return protoErr(FESDataRange, 12, "R2T offset %d length %d for a %d-byte write, %d bytes asked for before", h.Offset, h.Length, len(s.write), s.sent)
		}
		s.sent = int(h.Offset + h.Length)
		s.asked += int(h.Length)
		data := s.write[h.Offset : h.Offset+h.Length]
		q.send(func(b []byte) []byte {
			return q.dg.appendDataPDUs(b, TypeH2CData, DataHeader{CID: h.CID, TTag: h.TTag, Offset: h.Offset}, data, q.maxH2C)
		})
	case TypeC2HTermReq:
		te := ParseTermReq(p)
		q.fail(te, nil)
		return nil
	default:
		return protoErr(FESInvalidHeader, 0, "unexpected PDU type %#x from a controller", uint8(p.Type))
	}
	return nil
}

func (q *HostQueue) complete(cid uint16, c nvme.Completion, off uint32) *TermError {
	s, err := q.slot(cid, off)
	if err != nil {
		return err
	}
	s.mu.Lock()
	var notify func()
	switch s.state {
	case slotWaiting:
		s.state = slotIdle
		s.res <- s.result(cid, c)
		notify, s.notify = s.notify, nil
	case slotAbandoned:
		s.state = slotIdle
		q.free <- cid
	case slotExpired:
		s.state = slotLate
	default:
		s.mu.Unlock()
		return protoErr(FESSequence, off, "completion for idle command %d", cid)
	}
	s.mu.Unlock()
	if notify != nil {
		notify()
	}
	return nil
}

// result checks what the command in s transferred against what it asked
// for, now that it completes with c. s.mu must be held.
func (s *slot) result(cid uint16, c nvme.Completion) result {
	if s.got < len(s.read) {
		clear(s.read[s.got:]) // never leave a reused buffer's old bytes
	}
	switch {
	case s.badDigest:
		// NVMe/TCP 7.4.6.1: the command fails, the queue goes on. The
		// digest error wins over the controller's status, as in Linux.
		c.Status = nvme.StatusTransientTransport
		return result{c: c, err: fmt.Errorf("%w in C2HData of command %d: %w", ErrDataDigest, cid, c.Status)}
	case c.Status != 0:
		return result{c: c}
	case s.got < len(s.read):
		return result{c: c, err: fmt.Errorf("%w: command %d completed after %d of %d bytes of data", ErrShortTransfer, cid, s.got, len(s.read))}
	case s.asked < len(s.write):
		return result{c: c, err: fmt.Errorf("%w: command %d completed after R2Ts for %d of %d bytes of data", ErrShortTransfer, cid, s.asked, len(s.write))}
	}
	return result{c: c}
}
