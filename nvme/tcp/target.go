package tcp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/complchain/complchain/nvme"
)

// A Request is one command received by ServeTarget.
type Request struct {
	Command nvme.Command
	// Data holds the host-to-controller data, fully received (in-capsule
	// or through R2T and H2CData), or nil. It is valid until ServeNVMe
	// returns: ServeTarget reuses the buffer.
	Data []byte
}

// A Response answers a Request.
type Response struct {
	// Completion carries Result and Status; ServeTarget fills in CID,
	// SQID and SQHead.
	Completion nvme.Completion
	// Data is the controller-to-host data. At most the length the
	// command's SGL asked for is sent.
	Data []byte
	// Release, if not nil, is called with Data once ServeTarget no longer
	// needs it, so that the handler can reuse the buffer.
	Release func([]byte)
}

// A Handler executes commands for ServeTarget. ServeNVMe is called in a
// goroutine of its own for each command (see also InlineHandler); ctx is cancelled when the connection ends, and
// ServeTarget waits for every call to return. req is valid until
// ServeNVMe returns: ServeTarget reuses it.
//
// The first command a handler sees on a connection is a Fabrics Connect:
// ServeTarget answers any other command that comes before a Connect
// succeeded with Command Sequence Error itself, moving no data.
type Handler interface {
	ServeNVMe(ctx context.Context, req *Request) Response
}

// An InlineHandler is a Handler that answers some commands at once.
// ServeTarget calls ServeNVMeInline for each command from the goroutine
// that reads the connection, which saves starting a goroutine for it; if
// it reports false, having done nothing, ServeNVMe is called for the
// command in a goroutine of its own. ServeNVMeInline must not block (wait
// on timers, hold locks long, or use the network): the connection reads
// nothing meanwhile.
type InlineHandler interface {
	Handler
	ServeNVMeInline(ctx context.Context, req *Request) (Response, bool)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, req *Request) Response

// ServeNVMe calls f(ctx, req).
func (f HandlerFunc) ServeNVMe(ctx context.Context, req *Request) Response { return f(ctx, req) }

// TargetConfig configures ServeTarget. The zero value is usable.
type TargetConfig struct {
	// MaxH2CData is the MAXH2CDATA advertised in ICResp: the most data one
	// H2CData PDU may carry. 0 means 128 KiB; it is rounded up to 4096.
	MaxH2CData uint32
	// InCapsuleSize is the most in-capsule data a command may carry.
	// 0 means 8192.
	InCapsuleSize int
	// MaxC2HData is the most data sent in one C2HData PDU. 0 means 128 KiB.
	MaxC2HData int
	// MaxTransfer bounds the data of one command in either direction;
	// a larger command completes with StatusInvalidField without
	// data moving. 0 means 1 MiB.
	MaxTransfer int
	// MaxOutstanding is the number of commands that may execute at once
	// (from the handler call until the response is queued); while that
	// many do, ServeTarget stops reading the connection. Writes waiting
	// for their H2CData or for write budget do not count, but at most
	// MaxOutstanding may wait: a host that starts more is cut off with
	// FESDataLimit. 0 means 128.
	MaxOutstanding int

	// ConnectTimeout bounds the time from the start of ServeTarget until
	// a Connect command has succeeded, ICReq included: a host that is not
	// connected by then is cut off and ServeTarget returns an error
	// wrapping ErrConnectTimeout. 0 means 10 s; negative means no limit.
	ConnectTimeout time.Duration
	// DataTimeout bounds the time from an R2T until the last H2CData PDU
	// of its write, and the time a host may take to accept what the
	// target sends (one write to the socket): a host that is late is cut
	// off and ServeTarget returns an error wrapping ErrDataTimeout or
	// ErrSendTimeout. 0 means 10 s; negative means no limit.
	DataTimeout time.Duration
	// WriteBudget bounds, in bytes, the write data the connection holds
	// at once, from R2T until the write's handler returns (buffers are
	// counted in power-of-two sizes from 4 KiB). A write that does not fit
	// waits, its R2T unsent, until others complete. 0 means 4 MiB; it is
	// raised to fit one write of MaxTransfer bytes.
	WriteBudget int
	// Budget, if not nil, is a budget shared with other connections (the
	// per-target bound): a write needs room in both.
	Budget *Budget
	// ReadBudget, if not nil, bounds the controller-to-host data of the
	// connections sharing it, from the handler call until the data is
	// written to the socket: a read waits for room before its handler
	// runs, and ServeTarget stops reading the connection meanwhile.
	ReadBudget *Budget

	// MalformedAfter, if positive, replaces the response after
	// MalformedAfter responses with a PDU whose header is invalid (fault
	// knob for tests).
	MalformedAfter int
	// DropAfter, if positive, closes the connection without a word
	// once DropAfter commands have been received (fault knob for tests).
	DropAfter int
}

// Defaults of TargetConfig.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultDataTimeout    = 10 * time.Second
	DefaultWriteBudget    = 4 << 20
)

// maxQueuedResponses is how many bytes of responses may wait for a host
// that does not read them before the handlers answering it wait too.
const maxQueuedResponses = 1 << 20

// Errors ServeTarget returns when it cut a host off for being too slow.
var (
	ErrConnectTimeout = errors.New("nvme/tcp: no Connect within the connect timeout")
	ErrDataTimeout    = errors.New("nvme/tcp: write data not received within the data timeout")
	ErrSendTimeout    = errors.New("nvme/tcp: host took no data sent to it within the data timeout")
)

// ErrDropped is returned by ServeTarget when it closed the connection
// because of TargetConfig.DropAfter.
var ErrDropped = errors.New("nvme/tcp: connection dropped by fault knob")

// ServeTarget serves the controller side of one NVMe/TCP connection: it
// answers the host's ICReq (with the digests the host asked for), reads
// command capsules, gathers their write data (in-capsule, or by R2T and
// H2CData), calls h for each command in its own goroutine and sends each
// response (C2HData, then CapsuleResp) when its handler returns, in
// whatever order that is. It owns conn and closes it before returning.
//
// Until a Connect succeeds ServeTarget reads nothing after it: commands
// other than Connect complete with Command Sequence Error, and the queue's
// ID and size are taken from the accepted Connect only.
//
// ServeTarget returns nil when the host closes the connection between
// PDUs, ctx.Err() when ctx is done, a *TermError for a protocol error (it
// sent the host a C2HTermReq first) or for a H2CTermReq from the host, an
// error wrapping ErrConnectTimeout or ErrDataTimeout when it cut off a
// slow host, and other errors wrapping the I/O failure.
func ServeTarget(ctx context.Context, conn net.Conn, cfg TargetConfig, h Handler) error {
	if cfg.MaxH2CData == 0 {
		cfg.MaxH2CData = 128 << 10
	}
	cfg.MaxH2CData = (cfg.MaxH2CData + MinMaxH2CData - 1) / MinMaxH2CData * MinMaxH2CData
	if cfg.InCapsuleSize <= 0 {
		cfg.InCapsuleSize = 8192
	}
	if cfg.MaxC2HData <= 0 {
		cfg.MaxC2HData = 128 << 10
	}
	if cfg.MaxTransfer <= 0 {
		cfg.MaxTransfer = 1 << 20
	}
	if cfg.MaxOutstanding <= 0 {
		cfg.MaxOutstanding = 128
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.DataTimeout == 0 {
		cfg.DataTimeout = DefaultDataTimeout
	}
	if cfg.WriteBudget <= 0 {
		cfg.WriteBudget = DefaultWriteBudget
	}
	cfg.WriteBudget = max(cfg.WriteBudget, int(bufCharge(cfg.MaxTransfer)))
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	t := &target{cfg: cfg, h: h, ctx: ctx, conn: conn, w: newBatchWriter(conn, func(error) { conn.Close() }),
		slots: make(chan struct{}, cfg.MaxOutstanding), xfers: map[uint16]*xfer{}, connDone: make(chan bool, 1)}
	t.w.limit = maxQueuedResponses
	t.w.budget = cfg.ReadBudget
	t.w.timeout = max(cfg.DataTimeout, 0)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	err := t.serve(conn)
	cancelled := parent.Err() // why serve returned, not what happens while we finish
	stop()                    // before cancel, which would run it: the writer still has to flush
	cancel()
	t.dropWrites()
	// A host that stopped reading cannot hold the handlers, which may wait
	// for room in the writer, nor the final flush.
	t.w.setTimeout(time.Second)
	t.wg.Wait()
	t.w.close()
	conn.Close()
	t.mu.Lock()
	killed := t.killed // set before the close that ended serve
	t.mu.Unlock()
	if killed != nil {
		return killed
	}
	if cancelled != nil {
		return cancelled
	}
	if werr := t.w.err; werr != nil && errors.Is(werr, os.ErrDeadlineExceeded) && cfg.DataTimeout > 0 {
		return fmt.Errorf("%w: %v", ErrSendTimeout, werr)
	}
	if werr := t.w.err; werr != nil && errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("nvme/tcp: write: %w", werr) // the write failed first
	}
	return err
}

type target struct {
	cfg   TargetConfig
	h     Handler
	ctx   context.Context
	conn  net.Conn
	w     *batchWriter
	dg    Digests
	wg    sync.WaitGroup
	slots chan struct{} // one token per outstanding command

	// Owned by the reading goroutine.
	inlineReq Request // the request of a command served inline
	connected bool
	connDone  chan bool   // the first Connect's outcome
	connTimer *time.Timer // ConnectTimeout
	qid       uint16
	sqsize    int // submission queue size; 0 until Connect
	sqhd      int // commands fetched, mod sqsize

	mu      sync.Mutex
	nresp   int
	xfers   map[uint16]*xfer // writes waiting for H2CData, by transfer tag
	pending []*xfer          // writes waiting for budget, oldest first
	waiter  *budgetWaiter    // pending[0] waits for the shared budget
	held    int64            // bytes of write buffers held by this connection
	ttag    uint16
	closed  bool  // the connection ended: no more R2Ts
	killed  error // why a timer cut the connection off
}

// xfer is a write command whose data comes by R2T and H2CData.
type xfer struct {
	cmd    nvme.Command
	sq     sqPos
	n      int    // bytes to transfer
	ttag   uint16 // set when the R2T is sent
	charge int64  // budget held
	data   []byte // allocated when the first H2CData arrives
	got    int
	timer  *time.Timer // DataTimeout

	badDigest bool // an H2CData PDU failed its data digest
}

func (t *target) serve(conn net.Conn) error {
	if d := t.cfg.ConnectTimeout; d > 0 {
		// A timer, not a read deadline: clearing a deadline on every
		// connection costs some net.Conn wrappers dearly.
		tm := time.AfterFunc(d, func() {
			t.cutOff(fmt.Errorf("%w (%v)", ErrConnectTimeout, d))
		})
		defer tm.Stop()
		t.connTimer = tm
	}
	// The ICReq is read with a buffer of its size: a host that connects and
	// sends nothing costs little.
	ir := &Reader{r: bufio.NewReaderSize(conn, ICLen)}
	p, err := ir.Next()
	if err != nil {
		return t.readErr(err)
	}
	ic, err := ParseICReq(p)
	switch {
	case err != nil:
		return t.term(err.(*TermError))
	case ic.PFV != 0:
		return t.term(protoErr(FESUnsupportedParams, 8, "ICReq PFV %d", ic.PFV))
	case ic.HPDA != 0:
		return t.term(protoErr(FESUnsupportedParams, 10, "HPDA %d is not supported", ic.HPDA))
	case ic.Digests&^(DigestHeader|DigestData) != 0:
		return t.term(protoErr(FESUnsupportedParams, 11, "digest bits %#x", ic.Digests))
	}
	t.dg = Digests{ic.Digests&DigestHeader != 0, ic.Digests&DigestData != 0}
	t.w.send(func(b []byte) []byte {
		return AppendICResp(b, ICResp{Digests: ic.Digests, MaxH2CData: t.cfg.MaxH2CData})
	})
	// The ICReq reader holds nothing more: a valid ICReq is 128 bytes, as
	// large as its buffer. Until Connect no H2CData is expected, and a
	// small buffer holds a Connect.
	r := &Reader{r: bufio.NewReaderSize(conn, connectBufSize), maxData: t.cfg.InCapsuleSize}
	r.SetDigests(t.dg.Header, t.dg.Data)
	ncmds := 0
	for {
		p, err := r.Next()
		badDigest := errors.Is(err, ErrDataDigest)
		if err != nil && !badDigest {
			return t.readErr(err)
		}
		var te *TermError
		switch p.Type {
		case TypeCapsuleCmd:
			ncmds++
			if t.cfg.DropAfter > 0 && ncmds > t.cfg.DropAfter {
				conn.Close() // at once: no response may leave
				return ErrDropped
			}
			wasConnected := t.connected
			te = t.capsule(p, badDigest)
			if t.connected && !wasConnected {
				if t.connTimer != nil {
					t.connTimer.Stop() // if it fired meanwhile, the host was late anyway
				}
				r.maxData = max(int(t.cfg.MaxH2CData), t.cfg.InCapsuleSize)
				r.growBuffer()
			}
		case TypeH2CData:
			te = t.h2cData(p, badDigest)
		case TypeH2CTermReq:
			return ParseTermReq(p)
		case TypeICReq:
			te = protoErr(FESSequence, 0, "ICReq on an initialized connection")
		default:
			te = protoErr(FESInvalidHeader, 0, "unexpected PDU type %#x from a host", uint8(p.Type))
		}
		if te != nil {
			return t.term(te)
		}
	}
}

func (t *target) readErr(err error) error {
	var te *TermError
	if errors.As(err, &te) {
		return t.term(te)
	}
	if err == io.EOF {
		return nil
	}
	return fmt.Errorf("nvme/tcp: read: %w", err)
}

// term sends a C2HTermReq for te and returns te.
func (t *target) term(te *TermError) error {
	t.w.send(func(b []byte) []byte { return AppendTermReq(b, TypeC2HTermReq, te.FES, te.Offset, nil) })
	return te
}

// acquire takes an executing-command token, waiting (and so not reading
// the connection) while all are taken. Writes waiting for H2CData hold no
// token: their data may sit behind further capsules in the stream.
func (t *target) acquire() bool {
	select {
	case t.slots <- struct{}{}: // a token is free: no select over two channels
		return true
	default:
	}
	select {
	case t.slots <- struct{}{}:
		return true
	case <-t.ctx.Done():
		return false
	}
}

func isConnect(cmd *nvme.Command) bool {
	return cmd.Opcode == nvme.OpFabrics && cmd.FabricsType() == nvme.FabricsConnect
}

// capsule takes a command capsule. badDigest says its in-capsule data
// failed the data digest: the command fails with Transient Transport
// Error (NVMe/TCP 7.4.6.1) and the connection goes on.
func (t *target) capsule(p PDU, badDigest bool) *TermError {
	var cmd nvme.Command
	cmd.UnmarshalBinary(p.Specific)
	sq := t.fetched()
	sgl := cmd.SGL()
	dir := cmd.DataDirection()
	if dir == nvme.HostToController && sgl.Type == nvme.SGLTransportDataBlock && len(p.Data) == 0 &&
		sgl.Length > 0 && int64(sgl.Length) <= int64(t.cfg.MaxTransfer) && t.connected {
		return t.queueWrite(&xfer{cmd: cmd, sq: sq, n: int(sgl.Length)})
	}
	if !t.acquire() {
		return nil
	}
	switch {
	case len(p.Data) > t.cfg.InCapsuleSize:
		return protoErr(FESDataLimit, 4, "%d bytes of in-capsule data, limit %d", len(p.Data), t.cfg.InCapsuleSize)
	case !t.connected && !isConnect(&cmd):
		t.fail(&cmd, sq, nvme.StatusCommandSequenceError)
	case badDigest:
		t.failDigest(&cmd, sq)
	case len(p.Data) != 0 && sgl.Type != nvme.SGLDataBlockOffset:
		t.fail(&cmd, sq, nvme.StatusSGLInvalidType) // in-capsule data needs the offset descriptor
	case sgl.Length == 0:
		// No data, whatever the descriptor's type: Linux's nvmet ignores it too.
		t.dispatch(&cmd, sq, nil, nil, 0)
	case sgl.Type == nvme.SGLDataBlockOffset:
		if sgl.Addr != 0 || int(sgl.Length) != len(p.Data) || dir != nvme.HostToController {
			t.fail(&cmd, sq, nvme.StatusSGLInvalidData)
			return nil
		}
		data := getBuf(len(p.Data))
		copy(data, p.Data)
		t.dispatch(&cmd, sq, data, func() { putBuf(data) }, 0)
	case sgl.Type != nvme.SGLTransportDataBlock:
		t.fail(&cmd, sq, nvme.StatusSGLInvalidType)
	case int64(sgl.Length) > int64(t.cfg.MaxTransfer):
		t.fail(&cmd, sq, nvme.StatusInvalidField)
	case dir == nvme.ControllerToHost && t.cfg.ReadBudget != nil:
		n := int64(sgl.Length)
		if !t.cfg.ReadBudget.wait(t.ctx, n) {
			return nil
		}
		t.dispatch(&cmd, sq, nil, nil, n)
	default:
		t.dispatch(&cmd, sq, nil, nil, 0)
	}
	if !t.connected && isConnect(&cmd) {
		t.awaitConnect(&cmd)
	}
	return nil
}

// awaitConnect waits for the outcome of a Connect on a queue not yet
// connected, reading nothing meanwhile; an accepted Connect sets the
// queue's ID and size.
func (t *target) awaitConnect(cmd *nvme.Command) {
	select {
	case ok := <-t.connDone:
		if ok {
			t.connected = true
			t.qid = uint16(cmd.CDW10 >> 16)
			t.sqsize = int(uint16(cmd.CDW11)) + 1
			t.sqhd %= t.sqsize
		}
	case <-t.ctx.Done():
	}
}

// fetched counts a command fetched from the submission queue and returns
// the queue's ID and new head.
func (t *target) fetched() sqPos {
	t.sqhd++
	if t.sqsize > 0 {
		t.sqhd %= t.sqsize
	}
	return sqPos{t.qid, uint16(t.sqhd)}
}

// sqPos is a submission queue's ID and head as a command left it.
type sqPos struct{ id, head uint16 }

// h2cData takes an H2CData PDU. badDigest says its data failed the data
// digest: the data is dropped, and the write fails with Transient
// Transport Error once its last PDU is in, without running its handler.
func (t *target) h2cData(p PDU, badDigest bool) *TermError {
	h := ParseDataHeader(p)
	t.mu.Lock()
	x := t.xfers[h.TTag]
	t.mu.Unlock()
	switch {
	case x == nil || x.cmd.CID != h.CID:
		return protoErr(FESInvalidHeader, 10, "H2CData for unknown transfer tag %d (CID %d)", h.TTag, h.CID)
	case int(h.Length) != len(p.Data):
		return protoErr(FESInvalidHeader, 16, "H2CData length %d with %d bytes of data", h.Length, len(p.Data))
	case len(p.Data) > int(t.cfg.MaxH2CData):
		return protoErr(FESDataLimit, 16, "H2CData of %d bytes, MAXH2CDATA %d", len(p.Data), t.cfg.MaxH2CData)
	case int(h.Offset) != x.got || int(h.Offset)+len(p.Data) > x.n:
		return protoErr(FESDataRange, 12, "H2CData offset %d length %d for a %d-byte write at %d", h.Offset, h.Length, x.n, x.got)
	}
	if badDigest {
		x.badDigest = true
	} else {
		if x.data == nil {
			x.data = getBuf(x.n) // only now: a host that sends nothing costs budget, not memory
		}
		copy(x.data[h.Offset:], p.Data)
	}
	x.got += len(p.Data)
	last := x.got == x.n
	if last != (p.Flags&FlagDataLast != 0) {
		return protoErr(FESInvalidHeader, 1, "LAST_PDU flag %v at %d of %d bytes", !last, x.got, x.n)
	}
	if last {
		t.mu.Lock()
		delete(t.xfers, h.TTag)
		t.mu.Unlock()
		if x.timer != nil {
			x.timer.Stop()
		}
		done := func() { putBuf(x.data); t.releaseWrite(x.charge) }
		if !t.acquire() {
			done()
			return nil
		}
		if x.badDigest {
			t.failDigest(&x.cmd, x.sq)
			done()
			return nil
		}
		t.dispatch(&x.cmd, x.sq, x.data, done, 0)
	}
	return nil
}

// dispatch runs the handler for cmd: at once if it is an InlineHandler
// that answers cmd so, else in a goroutine of its own; done, if not nil,
// is called when the handler has returned. charge is the ReadBudget the
// command holds.
func (t *target) dispatch(cmd *nvme.Command, sq sqPos, data []byte, done func(), charge int64) {
	if ih, ok := t.h.(InlineHandler); ok {
		// The reading goroutine's own Request: no allocation per command.
		req := &t.inlineReq
		*req = Request{Command: *cmd, Data: data}
		resp, ok := ih.ServeNVMeInline(t.ctx, req)
		if ok {
			t.respond(&req.Command, sq, resp, charge)
			if done != nil {
				done()
			}
		}
		*req = Request{} // hold no data until the next command
		if ok {
			return
		}
	}
	req := &Request{Command: *cmd, Data: data}
	t.wg.Go(func() { t.serveOne(req, sq, done, charge) })
}

// serveOne calls the handler for req and responds.
func (t *target) serveOne(req *Request, sq sqPos, done func(), charge int64) {
	t.respond(&req.Command, sq, t.h.ServeNVMe(t.ctx, req), charge)
	if done != nil {
		done()
	}
}

// fail completes cmd with status st and DNR, moving no data.
func (t *target) fail(cmd *nvme.Command, sq sqPos, st nvme.Status) {
	t.respond(cmd, sq, Response{Completion: nvme.Completion{Status: st | nvme.StatusDNR}}, 0)
}

// failDigest completes cmd, whose data failed the data digest, with
// Transient Transport Error, without DNR: the host may retry it.
func (t *target) failDigest(cmd *nvme.Command, sq sqPos) {
	t.respond(cmd, sq, Response{Completion: nvme.Completion{Status: nvme.StatusTransientTransport}}, 0)
}

// respond queues the response to cmd and releases its token. charge is
// the ReadBudget the command holds, given back once its data is written.
func (t *target) respond(cmd *nvme.Command, sq sqPos, resp Response, charge int64) {
	defer func() { <-t.slots }()
	if resp.Release != nil {
		defer resp.Release(resp.Data) // send copies the data
	}
	c := resp.Completion
	c.CID, c.SQID, c.SQHead = cmd.CID, sq.id, sq.head
	if isConnect(cmd) {
		if c.Status == 0 && sq.id == 0 {
			c.SQID = uint16(cmd.CDW10 >> 16) // the queue it created
		}
		select {
		case t.connDone <- c.Status == 0:
		default: // not the first Connect: nobody waits
		}
	}
	data := resp.Data
	if cmd.DataDirection() != nvme.ControllerToHost || c.Status != 0 {
		data = nil
	}
	data = data[:min(len(data), int(cmd.SGL().Length))]
	if len(data) == 0 && charge > 0 {
		t.cfg.ReadBudget.release(charge)
		charge = 0
	}
	t.mu.Lock()
	t.nresp++
	bad := t.cfg.MalformedAfter > 0 && t.nresp == t.cfg.MalformedAfter+1
	t.mu.Unlock()
	t.w.sendLimited(func(b []byte) []byte {
		if bad {
			return append(b, byte(TypeCapsuleRsp), 0, 99, 0, 24, 0, 0, 0) // HLEN 99
		}
		b = t.dg.appendDataPDUs(b, TypeC2HData, DataHeader{CID: c.CID}, data, t.cfg.MaxC2HData)
		return t.dg.AppendCapsuleResp(b, &c)
	}, charge)
}
