package iscsi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/complchain/complchain/scsi"
)

// Config configures an initiator's session.
type Config struct {
	// InitiatorName is this initiator's iSCSI name; empty means
	// DefaultInitiatorName.
	InitiatorName string
	// TargetName is the target to log in to; empty makes a discovery
	// session, for SendTargets only.
	TargetName string
	// CHAP, if not nil, is offered for authentication (AuthMethod
	// CHAP,None); the target chooses.
	CHAP *CHAP
	// Params are this side's preferences; the zero value means
	// PreferredParams.
	Params Params
	// QueueDepth bounds the commands in flight on the session, whatever
	// CmdSN window the target opens; 0 means 128.
	QueueDepth int
	// MaxDataIn bounds the data-in length of one command; 0 means
	// 16 MiB.
	MaxDataIn int
}

// DefaultInitiatorName is the initiator name used when Config has none.
const DefaultInitiatorName = "iqn.2026-01.io.example:complchain"

func (c *Config) setDefaults() {
	if c.InitiatorName == "" {
		c.InitiatorName = DefaultInitiatorName
	}
	if c.Params == (Params{}) {
		c.Params = PreferredParams()
	}
	if c.QueueDepth <= 0 {
		c.QueueDepth = defaultQueueDepth
	}
	if c.MaxDataIn <= 0 {
		c.MaxDataIn = 16 << 20
	}
}

// A Session is an initiator's iSCSI session over one TCP connection, in
// full feature phase. Its methods are safe for concurrent use: commands
// are numbered (CmdSN) in the order they are sent and wait while the
// target's window (MaxCmdSN) is closed. A failed connection fails every
// command in flight and every later one with an error wrapping
// ErrClosed.
type Session struct {
	cfg         Config
	c           *conn
	isid        [6]byte
	tsih        uint16
	loginITT    uint32
	targetAlias string
	params      Params
	answered    bool // a Login Response came

	expStatSN atomic.Uint32
	slots     chan struct{} // QueueDepth tokens: one per command until its answer or the session's end

	sendMu sync.Mutex // orders CmdSN with the wire: held while numbering and writing

	mu       sync.Mutex // guards the fields below
	cmdSN    uint32     // next CmdSN to send
	maxCmdSN uint32
	window   chan struct{} // closed when the window moves
	itt      uint32
	tasks    map[uint32]*task
	err      error         // why the session ended
	done     chan struct{} // closed when the reader returns
	wg       sync.WaitGroup
}

// task is one exchange waiting for the target: a SCSI command, a text
// request, a NOP-Out ping or a logout.
type task struct {
	op     Opcode
	out    []byte // data-out
	in     []byte // data-in received, at most want bytes, grown as it comes
	want   int    // Expected Data Transfer Length of data-in
	dataSN uint32
	resp   scsi.Response
	text   []byte        // Text Response or NOP-In data
	flags  byte          // of the last Text Response
	ttt    uint32        // of the last Text Response
	slot   chan struct{} // the queue depth token to give back when done, if any
	result chan error    // buffered: one value
}

// Dial connects to the portal at addr ("host:port") and logs in as cfg
// says: to cfg.TargetName, or a discovery session. ctx bounds the
// connection and the login; a target that does not answer in time is
// given up. Errors: *LoginError for a login the target refused,
// *NegotiationError, *ProtocolError, or the network's.
func Dial(ctx context.Context, addr string, cfg Config) (*Session, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	s, err := NewSession(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("iscsi: login to %s at %s: %w", loginName(cfg.TargetName), addr, err)
	}
	return s, nil
}

func loginName(target string) string {
	if target == "" {
		return "discovery session"
	}
	return target
}

// NewSession logs in over nc, as Dial does, and owns nc from then on.
func NewSession(ctx context.Context, nc net.Conn, cfg Config) (*Session, error) {
	cfg.setDefaults()
	s := &Session{cfg: cfg, c: newConn(nc, readSize), cmdSN: 1, maxCmdSN: 1, itt: 1,
		tasks: map[uint32]*task{}, window: make(chan struct{}), done: make(chan struct{}),
		slots: make(chan struct{}, cfg.QueueDepth)}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	rand.Read(s.isid[2:])
	s.isid[0], s.isid[1] = 0x80, 0x3b // random qualifier (RFC 7143 §11.12.5, type 10b)
	stop := s.c.deadline(ctx)
	err := s.login()
	stop()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	s.wg.Go(s.reader)
	return s, nil
}

// Params returns the parameters the login negotiated.
func (s *Session) Params() Params { return s.params }

// TargetName returns the target the session is logged in to.
func (s *Session) TargetName() string { return s.cfg.TargetName }

// TargetAlias returns the TargetAlias the target declared, if any.
func (s *Session) TargetAlias() string { return s.targetAlias }

// updateWindow applies ExpCmdSN and MaxCmdSN from a target PDU (RFC 7143
// §4.2.2.1): a window with MaxCmdSN < ExpCmdSN-1, or older than the one
// known, is ignored.
func (s *Session) updateWindow(exp, maxSN uint32) {
	if serialLess(maxSN, exp-1) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if serialLess(s.maxCmdSN, maxSN) {
		s.maxCmdSN = maxSN
		close(s.window)
		s.window = make(chan struct{})
	}
}

// fail ends the session with err; the first error wins.
func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	tasks := s.tasks
	s.tasks = map[uint32]*task{}
	s.mu.Unlock()
	s.c.nc.Close()
	for _, t := range tasks {
		t.finish(s.closedErr())
	}
}

func (s *Session) closedErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(s.err, ErrClosed) {
		return s.err
	}
	return fmt.Errorf("%w: %w", ErrClosed, s.err)
}

// release gives back the queue depth token of a task never registered.
func (t *task) release() {
	if t.slot != nil {
		<-t.slot
	}
}

// finish hands err to t's caller and gives back its queue depth token:
// a command stays counted against the depth until its answer comes (or
// the session ends), also after its caller gave up waiting.
func (t *task) finish(err error) {
	select {
	case t.result <- err:
		if t.slot != nil {
			<-t.slot
		}
	default:
	}
}

// start registers t under a new ITT and sends p for it (on error, t is
// finished or released): immediate PDUs
// at once, others when the CmdSN window is open, numbered under the
// connection's write lock so that CmdSN follows the wire order.
func (s *Session) start(ctx context.Context, t *task, p *PDU) error {
	t.result = make(chan error, 1)
	immediate := p.BHS.Immediate()
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	for {
		s.mu.Lock()
		if s.err != nil {
			s.mu.Unlock()
			t.release()
			return s.closedErr()
		}
		if immediate || !serialLess(s.maxCmdSN, s.cmdSN) {
			break
		}
		w := s.window
		s.mu.Unlock()
		select {
		case <-w:
		case <-s.done:
		case <-ctx.Done():
			t.release()
			return ctx.Err()
		}
	}
	itt := s.itt
	for s.tasks[itt] != nil || itt == ReservedTag {
		itt++
	}
	s.itt = itt + 1
	s.tasks[itt] = t
	p.BHS.PutU32(offITT, itt)
	p.BHS.PutU32(offCmdSN, s.cmdSN)
	if !immediate {
		s.cmdSN++
	}
	s.mu.Unlock()
	err := s.c.write(p, func(p *PDU) { p.BHS.PutU32(offExpStatSN, s.expStatSN.Load()) })
	if err != nil {
		s.fail(err)
		return s.closedErr()
	}
	return nil
}

// wait waits for t's answer or ctx; a task given up stays registered so
// that its late answer is recognised, and its queue depth token held,
// until the answer comes and finish gives the token back.
func (s *Session) wait(ctx context.Context, t *task) error {
	select {
	case err := <-t.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Execute sends cdb to the LUN lun with out as data-out (nil for none)
// and room for dataIn bytes of data-in (at most Config.MaxDataIn), and
// returns the command's status, data and sense data. It waits for a free
// slot of the queue depth and for the CmdSN window. A SCSI status other
// than GOOD is not an error; an iSCSI response other than "command
// completed at target", a protocol violation of the target or a
// connection failure is.
func (s *Session) Execute(ctx context.Context, lun [8]byte, cdb []byte, out []byte, dataIn int) (scsi.Response, error) {
	if len(cdb) > 16 || len(cdb) == 0 {
		return scsi.Response{}, fmt.Errorf("iscsi: CDB of %d bytes (1 to 16 without an AHS)", len(cdb))
	}
	if dataIn < 0 || dataIn > s.cfg.MaxDataIn {
		return scsi.Response{}, fmt.Errorf("iscsi: data-in of %d bytes, limit %d", dataIn, s.cfg.MaxDataIn)
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return scsi.Response{}, ctx.Err()
	}
	t := &task{op: OpSCSICommand, out: out, want: dataIn, slot: s.slots}
	p := &PDU{}
	p.BHS.SetOpcode(OpSCSICommand, false)
	p.BHS[1] = FlagFinal | AttrSimple
	if dataIn > 0 {
		p.BHS[1] |= FlagRead
	}
	if len(out) > 0 {
		p.BHS[1] |= FlagWrite
		if s.params.ImmediateData {
			p.Data = out[:min(len(out), s.params.FirstBurstLength, s.params.MaxXmitDataSegmentLength)]
		}
	}
	p.BHS.SetLUN(lun)
	p.BHS.PutU32(offTTT, uint32(max(dataIn, len(out)))) // Expected Data Transfer Length
	copy(p.BHS[32:48], cdb)
	if err := s.start(ctx, t, p); err != nil {
		return scsi.Response{}, err
	}
	if err := s.wait(ctx, t); err != nil {
		return scsi.Response{}, err
	}
	t.resp.Data = t.in
	return t.resp, nil
}

// Command implements scsi.Transport: it runs cdb on LUN a.LUN of the
// session's target (a's host, channel and target are the session
// itself) with a data-in buffer as long as the CDB's allocation length.
func (s *Session) Command(ctx context.Context, a scsi.Addr, cdb []byte) (scsi.Response, error) {
	return s.Execute(ctx, scsi.EncodeLUN(a.LUN), cdb, nil, scsi.DataInLength(cdb))
}

// Ping sends a NOP-Out and waits for the target's NOP-In (RFC 7143
// §11.18), with data echoed back.
func (s *Session) Ping(ctx context.Context, data []byte) error {
	if len(data) > s.params.MaxXmitDataSegmentLength {
		return fmt.Errorf("iscsi: ping data of %d bytes above MaxXmitDataSegmentLength", len(data))
	}
	t := &task{op: OpNOPOut}
	p := &PDU{Data: data}
	p.BHS.SetOpcode(OpNOPOut, true)
	p.BHS[1] = FlagFinal
	p.BHS.PutU32(offTTT, ReservedTag)
	if err := s.start(ctx, t, p); err != nil {
		return err
	}
	if err := s.wait(ctx, t); err != nil {
		return err
	}
	if string(t.text) != string(data) {
		return &ProtocolError{Op: OpNOPIn, Reason: "ping data not echoed"}
	}
	return nil
}

// Logout closes the session (RFC 7143 §11.14, reason "close the
// session") and its connection. Close without Logout drops the
// connection.
func (s *Session) Logout(ctx context.Context) error {
	t := &task{op: OpLogoutReq}
	p := &PDU{}
	p.BHS.SetOpcode(OpLogoutReq, true)
	p.BHS[1] = FlagFinal // reason 0: close the session
	err := s.start(ctx, t, p)
	if err == nil {
		err = s.wait(ctx, t)
	}
	s.Close()
	return err
}

// Close drops the connection and waits for the session's goroutines;
// commands in flight fail with ErrClosed.
func (s *Session) Close() error {
	s.fail(ErrClosed)
	s.wg.Wait()
	return nil
}

// Err returns why the session ended, or nil while it is up.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Done is closed when the session's connection has ended.
func (s *Session) Done() <-chan struct{} { return s.done }
