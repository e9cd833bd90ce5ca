// Package host is an NVMe over TCP host: it connects to a controller,
// brings it up as Linux's host does, keeps it alive, keeps Asynchronous
// Event Requests outstanding, and runs admin commands with many in flight.
//
// Bring-up (Connect): ICReq/ICResp, Fabrics Connect on the admin queue
// (QID 0, CNTLID FFFFh, host ID and NQNs, KATO), Property Get CAP, Property
// Set CC (EN=0, then EN=1), Property Get CSTS until RDY within CAP.TO,
// Property Get VS, Identify Controller, Set Features Asynchronous Event
// Configuration for the namespace attribute and ANA change notices the
// controller supports (OAES bits 8 and 11).
//
// Admin queue depth: Config.AdminQueueDepth when set; otherwise the
// admin submission queue size of the subsystem's discovery log entry
// (Config.ASQSZ) when known; otherwise 32, the size Linux uses, which every
// target accepts. A deeper queue is only an optimisation: on fabrics
// CAP.MQES describes I/O queues, not the admin queue (an SPDK target offers
// I/O queues of 1024 entries and admin queues of 128), so with neither
// depth known the host connects with 32 entries, reads CAP, and tries a
// second Connect with CAP.MQES+1 entries (at most 4096, the largest an
// admin queue may be), keeping whichever association got through. A
// Connect refused at the ASQSZ depth is retried with 32 entries. One entry
// is kept for the Asynchronous Event Request and commands beyond the depth
// wait.
//
// Asynchronous events: one request is kept outstanding while the
// controller advertises namespace or ANA change notices (OAES bit 8 or
// 11). A request the controller fails is sent again after a pause that
// doubles from 100 ms up to 10 s, or, if its status has Do Not Retry, not
// again. Events is closed when the controller stops, whether or not it
// advertised the notices.
//
// ANA: a controller that reports ANA (CMIC bit 3) has its ANA log read
// at bring-up and, as Linux's ana_work does, on each ANA change notice
// before the notice is passed on to Events: reading the log re-arms the
// notice whatever the reader of Events does, and ANA returns the states
// read.
//
// Shutdown (Close): CC.SHN normal shutdown with CC.EN still set, then
// CSTS.SHST polled, pausing 10 ms doubling up to 100 ms between reads,
// until it reports shutdown complete or Config.ShutdownTimeout passes.
package host

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// Config configures a connection to a controller. The zero value connects
// to the discovery subsystem with a host identity random but the same for
// the whole process; LoadIdentity gives the machine's, as nvme-cli has it.
type Config struct {
	SubsystemNQN string // NQN of the subsystem; nvme.DiscoveryNQN if empty
	// HostNQN is UUIDNQNPrefix and HostID in text if empty.
	HostNQN string
	// HostID, if zero, is the UUID of a HostNQN of the form
	// UUIDNQNPrefix<UUID>, or else the process's random one.
	HostID [16]byte
	// KATO is the keep alive timeout asked for; the host sends Keep Alive
	// every KATO/2. 0 means 10 s; negative disables keep-alive.
	KATO time.Duration
	// AdminQueueDepth is the number of admin queue entries to ask for,
	// with no fallback if the controller refuses it; 0 means as deep as
	// the controller takes (see the package doc).
	AdminQueueDepth int
	// ASQSZ is the admin submission queue size in the subsystem's
	// discovery log entry (nvme.DiscoveryEntry.AdminQueueMax); 0 if not
	// known. Values below 32, which the specification does not allow,
	// are ignored.
	ASQSZ                    int
	HeaderDigest, DataDigest bool
	// CommandTimeout bounds each admin command; 0 means 10 s.
	CommandTimeout time.Duration
	// ShutdownTimeout bounds how long Close waits for the controller to
	// report shutdown complete; 0 means the controller's RTD3E (Identify
	// Controller bytes 91:88, in microseconds) between 1 s and 10 s, or
	// 5 s, Linux's default, if it reports none, and never more than
	// CommandTimeout.
	ShutdownTimeout time.Duration
	// Dial opens the connection; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultAdminQueueDepth is the depth of the first admin queue, the one
// Linux always uses.
const DefaultAdminQueueDepth = 32

// MaxAdminQueueDepth is the largest admin queue the specification allows.
const MaxAdminQueueDepth = 4096

// A Controller is a live association with an NVMe controller over its
// admin queue. Its methods are safe for concurrent use.
type Controller struct {
	addr   string
	cfg    Config
	q      *tcp.HostQueue
	cap    uint64
	vs     uint32
	id     nvme.IdentifyController
	cntlid uint16
	rtd3e  time.Duration // RTD3E, 0 if not reported
	aer    bool          // an Asynchronous Event Request is kept outstanding
	events chan nvme.AsyncEvent
	ana    atomic.Pointer[anaRead] // the last ANA log read, if the controller reports ANA
	ctx    context.Context         // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	bgErr  error // why a background loop stopped the controller
	closed bool
}

// Connect connects to the subsystem cfg.SubsystemNQN at addr (host:port)
// and brings its controller up. ctx bounds the whole bring-up.
func Connect(ctx context.Context, addr string, cfg Config) (*Controller, error) {
	if cfg.SubsystemNQN == "" {
		cfg.SubsystemNQN = nvme.DiscoveryNQN
	}
	if cfg.HostID == ([16]byte{}) {
		var ok bool
		if cfg.HostID, ok = nqnUUID(cfg.HostNQN); !ok {
			cfg.HostID = processID()
		}
	}
	if cfg.HostNQN == "" {
		cfg.HostNQN = string(nvme.AppendUUID([]byte(UUIDNQNPrefix), cfg.HostID))
	}
	if cfg.KATO == 0 {
		cfg.KATO = 10 * time.Second
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 10 * time.Second
	}
	c, err := connectDeepest(ctx, addr, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.bringUp(ctx); err != nil {
		c.q.Close()
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Go(c.asyncEvents)
	if cfg.KATO > 0 {
		c.wg.Go(c.keepAlive)
	}
	return c, nil
}

// connectDeepest opens the admin queue as deep as the package doc says.
func connectDeepest(ctx context.Context, addr string, cfg Config) (*Controller, error) {
	if cfg.AdminQueueDepth > 0 {
		return connect(ctx, addr, cfg, min(cfg.AdminQueueDepth, MaxAdminQueueDepth))
	}
	if cfg.ASQSZ >= DefaultAdminQueueDepth {
		c, err := connect(ctx, addr, cfg, min(cfg.ASQSZ, MaxAdminQueueDepth))
		var ce *ConnectError
		if errors.As(err, &ce) && cfg.ASQSZ > DefaultAdminQueueDepth && ctx.Err() == nil {
			return connect(ctx, addr, cfg, DefaultAdminQueueDepth)
		}
		return c, err
	}
	c, err := connect(ctx, addr, cfg, DefaultAdminQueueDepth)
	if err != nil {
		return nil, err
	}
	offered := min(nvme.CAPMQES(c.cap)+1, MaxAdminQueueDepth)
	if offered <= DefaultAdminQueueDepth {
		return c, nil
	}
	deep, err := connect(ctx, addr, cfg, offered)
	if err != nil {
		if ctx.Err() != nil {
			c.q.Close()
			return nil, err
		}
		return c, nil // refused, or failed: the first association serves
	}
	c.q.Close()
	return deep, nil
}

// connect opens the admin queue with depth entries and reads CAP.
func connect(ctx context.Context, addr string, cfg Config, depth int) (*Controller, error) {
	dial := cfg.Dial
	if dial == nil {
		dial = new(net.Dialer).DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	q, err := tcp.NewHostQueue(ctx, conn, tcp.HostConfig{Depth: depth, HeaderDigest: cfg.HeaderDigest, DataDigest: cfg.DataDigest, Timeout: cfg.CommandTimeout})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	c := &Controller{addr: addr, cfg: cfg, q: q, events: make(chan nvme.AsyncEvent, 16)}
	kato := uint32(max(cfg.KATO, 0) / time.Millisecond)
	cmd := nvme.ConnectCommand(0, uint16(depth), kato)
	cd := nvme.ConnectData{HostID: cfg.HostID, CNTLID: nvme.DynamicController, SubsystemNQN: cfg.SubsystemNQN, HostNQN: cfg.HostNQN}
	data, err := cd.AppendBinary(nil)
	if err != nil {
		q.Close()
		return nil, err
	}
	res, err := c.do(ctx, &cmd, data)
	if err != nil {
		q.Close()
		var st nvme.Status
		if errors.As(err, &st) {
			return nil, &ConnectError{Addr: addr, Command: cmd, Data: cd, Status: st, Result: uint32(res.Result)}
		}
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	c.cntlid = uint16(res.Result)
	if c.cap, err = c.property(ctx, nvme.PropCAP, 8); err != nil {
		q.Close()
		return nil, err
	}
	return c, nil
}

func (c *Controller) bringUp(ctx context.Context) error {
	cc := uint32(nvme.CCIOSQES | nvme.CCIOCQES)
	if err := c.setProperty(ctx, nvme.PropCC, cc); err != nil {
		return err
	}
	if err := c.setProperty(ctx, nvme.PropCC, cc|nvme.CCEnable); err != nil {
		return err
	}
	timeout := time.Duration(nvme.CAPTimeoutMS(c.cap)) * time.Millisecond
	if timeout == 0 {
		timeout = 500 * time.Millisecond
	}
	deadline := time.Now().Add(timeout)
	for {
		csts, err := c.property(ctx, nvme.PropCSTS, 4)
		if err != nil {
			return err
		}
		if csts&nvme.CSTSFatal != 0 {
			return fmt.Errorf("controller at %s: fatal status (CSTS %#x) while enabling", c.addr, csts)
		}
		if csts&nvme.CSTSReady != 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("controller at %s not ready after %v (CAP.TO)", c.addr, timeout)
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	vs, err := c.property(ctx, nvme.PropVS, 4)
	if err != nil {
		return err
	}
	c.vs = uint32(vs)
	buf := make([]byte, nvme.IdentifySize)
	cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
	if _, err := c.do(ctx, &cmd, buf); err != nil {
		return fmt.Errorf("identify controller at %s: %w", c.addr, err)
	}
	if err := c.id.UnmarshalBinary(buf); err != nil {
		return err
	}
	c.rtd3e = time.Duration(binary.LittleEndian.Uint32(buf[88:])) * time.Microsecond
	notices := c.id.OAES & (nvme.AsyncEventNamespaceChanged | nvme.AsyncEventANAChange)
	c.aer = notices != 0
	if c.aer {
		set := nvme.SetFeaturesCommand(nvme.FeatureAsyncEvent, notices)
		if _, err := c.do(ctx, &set, nil); err != nil {
			return fmt.Errorf("enable notices %#x at %s: %w", notices, c.addr, err)
		}
	}
	if c.ANASupported() {
		c.readANA(ctx)
	}
	return nil
}

func (c *Controller) property(ctx context.Context, off uint32, size int) (uint64, error) {
	cmd := nvme.PropertyGetCommand(off, size)
	res, err := c.do(ctx, &cmd, nil)
	if err != nil {
		return 0, fmt.Errorf("property get %#x at %s: %w", off, c.addr, err)
	}
	if size == 4 {
		return uint64(uint32(res.Result)), nil
	}
	return res.Result, nil
}

func (c *Controller) setProperty(ctx context.Context, off, v uint32) error {
	cmd := nvme.PropertySetCommand(off, v)
	if _, err := c.do(ctx, &cmd, nil); err != nil {
		return fmt.Errorf("property set %#x at %s: %w", off, c.addr, err)
	}
	return nil
}

// do runs a command with the per-command timeout.
func (c *Controller) do(ctx context.Context, cmd *nvme.Command, data []byte) (nvme.Completion, error) {
	res, err := c.q.Do(ctx, cmd, data)
	return res, c.timeoutErr(cmd.Opcode, err)
}

// timeoutErr returns err, or an error naming the controller and the
// opcode if the command timed out.
func (c *Controller) timeoutErr(op nvme.Opcode, err error) error {
	if errors.Is(err, tcp.ErrTimeout) {
		return fmt.Errorf("%w: no answer from %s to opcode %#x after %v", ErrTimeout, c.addr, uint8(op), c.cfg.CommandTimeout)
	}
	return err
}

// ErrTimeout is wrapped by the error of a command the controller did not
// answer within Config.CommandTimeout.
var ErrTimeout = errors.New("command timed out")

// Admin runs an admin command: data receives what the command reads, or
// holds what it writes. The error is nil on success, the nvme.Status of a
// failed command, or a transport error.
func (c *Controller) Admin(ctx context.Context, cmd *nvme.Command, data []byte) (nvme.Completion, error) {
	return c.do(ctx, cmd, data)
}

// Addr returns the address the controller was reached at.
func (c *Controller) Addr() string { return c.addr }

// HostNQN and HostID return the host identity the controller was
// connected with.
func (c *Controller) HostNQN() string  { return c.cfg.HostNQN }
func (c *Controller) HostID() [16]byte { return c.cfg.HostID }

// CNTLID returns the controller ID the subsystem gave this association.
func (c *Controller) CNTLID() uint16 { return c.cntlid }

// CAP returns the controller's capabilities property.
func (c *Controller) CAP() uint64 { return c.cap }

// Version returns the controller's VS property.
func (c *Controller) Version() uint32 { return c.vs }

// IdentifyController returns the Identify Controller data read at connect.
func (c *Controller) IdentifyController() *nvme.IdentifyController { return &c.id }

// QueueDepth returns how many admin commands may be in flight at once
// besides the Asynchronous Event Request.
func (c *Controller) QueueDepth() int {
	if c.aer {
		return c.q.Depth() - 1
	}
	return c.q.Depth()
}

// FreeCommands returns how many admin commands could be started now
// without waiting for a command identifier (tcp.HostQueue.Free).
func (c *Controller) FreeCommands() int { return c.q.Free() }

// Events returns the channel on which asynchronous events arrive (for
// instance "namespace attribute changed"). It is closed when the
// controller stops (Close, or the connection lost), in every case, even
// for a controller that sends no events.
func (c *Controller) Events() <-chan nvme.AsyncEvent { return c.events }

// Done returns a channel closed when the controller's connection is gone.
func (c *Controller) Done() <-chan struct{} { return c.q.Done() }

// Err returns why the controller stopped, or nil while it runs.
func (c *Controller) Err() error {
	c.mu.Lock()
	err := c.bgErr
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.q.Err()
}

// Close shuts the controller down (CC.SHN normal shutdown with CC.EN
// still set, then CSTS.SHST polled until shutdown complete, for at most
// Config.ShutdownTimeout) and closes the connection. It returns nil.
func (c *Controller) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	if c.q.Err() == nil {
		c.shutdown()
	}
	err := c.q.Close()
	c.wg.Wait()
	return err
}

// Shutdown pauses between CSTS reads.
const (
	shutdownPollMin = 10 * time.Millisecond
	shutdownPollMax = 100 * time.Millisecond
)

// shutdownTimeout returns how long Close waits for CSTS.SHST.
func (c *Controller) shutdownTimeout() time.Duration {
	switch {
	case c.cfg.ShutdownTimeout > 0:
		return c.cfg.ShutdownTimeout
	case c.rtd3e > 0:
		return min(max(c.rtd3e, time.Second), 10*time.Second, c.cfg.CommandTimeout)
	}
	return min(5*time.Second, c.cfg.CommandTimeout)
}

// shutdown requests a normal shutdown and waits for the controller to
// report it complete, as Linux's nvme_disable_ctrl does: EN stays set,
// since clearing it would be a reset, not a shutdown.
func (c *Controller) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout())
	defer cancel()
	if c.setProperty(ctx, nvme.PropCC, nvme.CCIOSQES|nvme.CCIOCQES|nvme.CCEnable|nvme.CCShnNormal) != nil {
		return
	}
	pause := shutdownPollMin
	for {
		csts, err := c.property(ctx, nvme.PropCSTS, 4)
		if err != nil || csts&nvme.CSTSShstMask == nvme.CSTSShstDone {
			return
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, shutdownPollMax)
	}
}

func (c *Controller) stop(err error) {
	c.mu.Lock()
	if c.bgErr == nil {
		c.bgErr = err
	}
	c.mu.Unlock()
	c.q.Close()
}

// keepAlive sends Keep Alive every KATO/2.
func (c *Controller) keepAlive() {
	t := time.NewTicker(c.cfg.KATO / 2)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.q.Done():
			return
		case <-t.C:
		}
		cmd := nvme.Command{Opcode: nvme.OpKeepAlive}
		if _, err := c.do(c.ctx, &cmd, nil); err != nil && c.ctx.Err() == nil {
			c.stop(fmt.Errorf("keep alive to %s: %w", c.addr, err))
			return
		}
	}
}

// Pauses before an Asynchronous Event Request is sent again after the
// controller failed one without Do Not Retry.
const (
	aerBackoffMin = 100 * time.Millisecond
	aerBackoffMax = 10 * time.Second
)

// asyncEvents passes the controller's events on to Events, and closes
// Events when the controller stops.
func (c *Controller) asyncEvents() {
	defer close(c.events)
	if c.aer {
		c.requestEvents()
	}
	select {
	case <-c.ctx.Done():
	case <-c.q.Done():
	}
}

// requestEvents keeps one Asynchronous Event Request outstanding and
// passes each event on to Events. It returns when the controller stops,
// or fails a request with Do Not Retry; a request failed otherwise is
// sent again after a pause.
func (c *Controller) requestEvents() {
	pause := aerBackoffMin
	for {
		cmd := nvme.Command{Opcode: nvme.OpAsyncEvent}
		res, err := c.q.Do(c.ctx, &cmd, nil)
		if err != nil {
			var st nvme.Status
			if !errors.As(err, &st) || st.DNR() {
				return
			}
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-c.q.Done():
				t.Stop()
				return
			}
			pause = min(2*pause, aerBackoffMax)
			continue
		}
		pause = aerBackoffMin
		ev := nvme.ParseAsyncEvent(uint32(res.Result))
		if ev.ANAChange() && c.ANASupported() {
			c.readANA(c.ctx) // before the event is passed on, so ANA shows the new states
		}
		select {
		case c.events <- ev:
		case <-c.ctx.Done():
			return
		case <-c.q.Done():
			return
		}
	}
}
