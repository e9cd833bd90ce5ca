// Package host is an NVMe over TCP host: it connects to a controller,
// brings it up as Linux's host does, keeps it alive, keeps Asynchronous
// Event Requests outstanding, and runs admin commands with many in flight.
//
// Bring-up (Connect): ICReq/ICResp, Fabrics Connect on the admin queue
// (QID 0, CNTLID FFFFh, host ID and NQNs, KATO), Property Get CAP, Property
// Set CC (EN=0, then EN=1), Property Get CSTS until RDY within CAP.TO,
// Property Get VS, Identify Controller, Set Features Asynchronous Event
// Configuration for namespace notices when the controller supports them.
//
// Admin queue depth: the host uses the deepest admin queue the controller
// offers, CAP.MQES+1 (up to 4096, the largest an admin queue may be), or
// Config.AdminQueueDepth when set. The depth is fixed by Connect, before CAP
// can be read, so with no depth configured the host first connects with 32
// entries (the size Linux uses, which every target accepts), reads CAP, and
// if the controller offers more, disconnects and connects again with
// CAP.MQES+1 entries. That costs one extra connection at bring-up and pays
// for itself on any scan of more than a few namespaces. One entry is kept for
// the Asynchronous Event Request and commands beyond the depth wait.
package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// Config configures a connection to a controller. The zero value connects
// to the discovery subsystem with a random host identity.
type Config struct {
	SubsystemNQN string   // NQN of the subsystem; nvme.DiscoveryNQN if empty
	HostNQN      string   // derived from HostID if empty
	HostID       [16]byte // random if zero
	// KATO is the keep alive timeout asked for; the host sends Keep Alive
	// every KATO/2. 0 means 10 s; negative disables keep-alive.
	KATO time.Duration
	// AdminQueueDepth is the number of admin queue entries to ask for; 0
	// means the deepest the controller offers (see the package doc).
	AdminQueueDepth          int
	HeaderDigest, DataDigest bool
	// CommandTimeout bounds each admin command; 0 means 10 s.
	CommandTimeout time.Duration
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
	events chan nvme.AsyncEvent
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	bgErr  error // why a background loop stopped the controller
	closed bool
}

// ConnectError is returned by Connect when the controller refused the
// Connect command: Status says why (for instance Connect Invalid Parameters
// for an unknown subsystem NQN).
type ConnectError struct {
	Addr, NQN string
	Status    nvme.Status
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("connect to %s at %s: %v", e.NQN, e.Addr, e.Status)
}

func (e *ConnectError) Unwrap() error { return e.Status }

// Connect connects to the subsystem cfg.SubsystemNQN at addr (host:port)
// and brings its controller up. ctx bounds the whole bring-up.
func Connect(ctx context.Context, addr string, cfg Config) (*Controller, error) {
	if cfg.SubsystemNQN == "" {
		cfg.SubsystemNQN = nvme.DiscoveryNQN
	}
	if cfg.HostID == ([16]byte{}) {
		rand.Read(cfg.HostID[:])
		cfg.HostID[6] = cfg.HostID[6]&0x0f | 0x40
		cfg.HostID[8] = cfg.HostID[8]&0x3f | 0x80
	}
	if cfg.HostNQN == "" {
		cfg.HostNQN = "nqn.2014-08.org.nvmexpress:uuid:" + uuidString(cfg.HostID)
	}
	if cfg.KATO == 0 {
		cfg.KATO = 10 * time.Second
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 10 * time.Second
	}
	depth := cfg.AdminQueueDepth
	if depth <= 0 {
		depth = DefaultAdminQueueDepth
	}
	depth = min(depth, MaxAdminQueueDepth)
	c, err := connect(ctx, addr, cfg, depth)
	if err != nil {
		return nil, err
	}
	if offered := min(nvme.CAPMQES(c.cap)+1, MaxAdminQueueDepth); cfg.AdminQueueDepth <= 0 && offered > depth {
		c.q.Close()
		if c, err = connect(ctx, addr, cfg, offered); err != nil {
			return nil, err
		}
	}
	if err := c.bringUp(ctx); err != nil {
		c.q.Close()
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if c.id.OAES&nvme.AsyncEventNamespaceChanged != 0 {
		c.wg.Go(c.asyncEvents)
	}
	if cfg.KATO > 0 {
		c.wg.Go(c.keepAlive)
	}
	return c, nil
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
			return nil, &ConnectError{Addr: addr, NQN: cfg.SubsystemNQN, Status: st}
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
	if c.id.OAES&nvme.AsyncEventNamespaceChanged != 0 {
		set := nvme.SetFeaturesCommand(nvme.FeatureAsyncEvent, nvme.AsyncEventNamespaceChanged)
		if _, err := c.do(ctx, &set, nil); err != nil {
			return fmt.Errorf("enable namespace notices at %s: %w", c.addr, err)
		}
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
	if c.id.OAES&nvme.AsyncEventNamespaceChanged != 0 {
		return c.q.Depth() - 1
	}
	return c.q.Depth()
}

// Events returns the channel on which asynchronous events arrive (for
// instance "namespace attribute changed"). It is closed when the
// controller stops.
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

// Close shuts the controller down (CC.SHN normal shutdown, waiting briefly
// for CSTS.SHST) and closes the connection.
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
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if c.setProperty(ctx, nvme.PropCC, nvme.CCIOSQES|nvme.CCIOCQES|nvme.CCShnNormal) == nil {
			for ctx.Err() == nil {
				csts, err := c.property(ctx, nvme.PropCSTS, 4)
				if err != nil || csts&nvme.CSTSShstMask == nvme.CSTSShstDone {
					break
				}
			}
		}
		cancel()
	}
	err := c.q.Close()
	c.wg.Wait()
	return err
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

// asyncEvents keeps one Asynchronous Event Request outstanding and passes
// each event on to Events.
func (c *Controller) asyncEvents() {
	defer close(c.events)
	for {
		cmd := nvme.Command{Opcode: nvme.OpAsyncEvent}
		res, err := c.q.Do(c.ctx, &cmd, nil)
		if err != nil {
			var st nvme.Status
			if errors.As(err, &st) && c.ctx.Err() == nil {
				continue // e.g. the request limit: try again
			}
			return
		}
		select {
		case c.events <- nvme.ParseAsyncEvent(uint32(res.Result)):
		case <-c.ctx.Done():
			return
		}
	}
}

func uuidString(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
