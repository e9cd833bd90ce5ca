package target

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/complchain/complchain/nvme"
)

// response is a command's result before the transport sends it.
type response struct {
	result  uint64
	status  nvme.Status
	data    []byte
	release func([]byte) // if not nil, gives data's buffer back once sent
}

func fail(s nvme.Status) response { return response{status: s} }

// controller is one dynamic controller: the state its admin and I/O queues
// share.
type controller struct {
	t        *Target
	sub      *Subsystem // nil for a discovery controller
	id       uint16
	hostnqn  string
	hostID   [16]byte
	kato     atomic.Int64 // keep alive timeout, ns (0: disabled)
	lastSeen atomic.Int64 // time of the last command, ns since t.start
	done     chan struct{}

	mu       sync.Mutex
	dead     bool
	cc, csts uint32
	aenCfg   uint32
	ioQueues int                 // I/O queues granted (Number of Queues)
	queues   map[uint16]*conn    // qid → connection; 0 is the admin queue
	changed  map[uint32]struct{} // Changed Namespace List
	overflow bool                // more than 1024 changes
	pending  bool                // a namespace change waits to be reported
	masked   bool                // reported; masked until log 04h is read
	port     *Port               // the port its admin queue came through
	ana      bool                // an ANA change waits to be reported
	anaMask  bool                // reported; masked until log 0Ch is read
	aers     []chan uint64       // outstanding Asynchronous Event Requests
	kaTimer  *time.Timer
}

// newController returns a controller of sub, or a discovery controller if
// sub is nil.
func newController(t *Target, sub *Subsystem, cd nvme.ConnectData, kato time.Duration) *controller {
	c := &controller{
		t:        t,
		sub:      sub,
		hostnqn:  cd.HostNQN,
		hostID:   cd.HostID,
		done:     make(chan struct{}),
		ioQueues: t.cfg.IOQueues,
		queues:   make(map[uint16]*conn),
		changed:  make(map[uint32]struct{}),
	}
	c.touch()
	c.setKATO(kato)
	return c
}

// discovery reports whether c is a discovery controller.
func (c *controller) discovery() bool { return c.sub == nil }

func (c *controller) cap() uint64 {
	return uint64(c.t.cfg.IOQueueDepth-1) | // MQES: I/O queues only on fabrics
		1<<16 | // CQR: contiguous queues required
		15<<24 | // TO: 7.5 s
		1<<37 // CSS: NVM command set
}

// touch records that a command arrived, for the keep alive timer.
func (c *controller) touch() {
	c.lastSeen.Store(int64(time.Since(c.t.start)))
}

// setKATO sets the keep alive timeout (0 disables it) and arms the timer.
func (c *controller) setKATO(kato time.Duration) {
	c.kato.Store(int64(kato))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead || kato <= 0 {
		return
	}
	if c.kaTimer == nil {
		c.kaTimer = time.AfterFunc(c.katoLimit(), c.checkKeepAlive)
	} else {
		c.kaTimer.Reset(c.katoLimit())
	}
}

// katoLimit is how long the controller waits for a command: KATO plus a
// round trip of emulated delay.
func (c *controller) katoLimit() time.Duration {
	return time.Duration(c.kato.Load()) + 2*c.t.cfg.Delay
}

// checkKeepAlive runs when the keep alive timer fires: it tears the
// controller down if no command arrived within the limit, or re-arms.
func (c *controller) checkKeepAlive() {
	kato := c.katoLimit()
	idle := time.Since(c.t.start) - time.Duration(c.lastSeen.Load())
	if c.kato.Load() > 0 && idle >= kato {
		c.teardown("keep alive timeout")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dead && c.kato.Load() > 0 {
		c.kaTimer.Reset(max(kato-idle, time.Millisecond))
	}
}

// ready reports whether the controller executes commands (CC.EN = 1,
// CSTS.RDY = 1, no shutdown).
func (c *controller) ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.csts&nvme.CSTSReady != 0 && c.csts&nvme.CSTSShstMask == 0
}

// propertyGet returns a property (Property Get).
func (c *controller) propertyGet(cmd *nvme.Command) response {
	eight := cmd.CDW10&1 != 0
	off := cmd.CDW11
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case eight && off == nvme.PropCAP:
		return response{result: c.cap()}
	case !eight && off == nvme.PropCAP:
		return response{result: c.cap() & 0xffffffff}
	case !eight && off == nvme.PropCAP+4:
		return response{result: c.cap() >> 32}
	case !eight && off == nvme.PropVS:
		return response{result: nvmeVersion}
	case !eight && off == nvme.PropCC:
		return response{result: uint64(c.cc)}
	case !eight && off == nvme.PropCSTS:
		return response{result: uint64(c.csts)}
	}
	return fail(nvme.StatusInvalidField | nvme.StatusDNR)
}

// propertySet writes a property (Property Set); only CC is writable.
func (c *controller) propertySet(cmd *nvme.Command) response {
	if cmd.CDW10&1 != 0 || cmd.CDW11 != nvme.PropCC {
		return fail(nvme.StatusInvalidField | nvme.StatusDNR)
	}
	c.setCC(cmd.CDW12)
	return response{}
}

// setCC applies a write of CC to the controller state machine.
func (c *controller) setCC(v uint32) {
	c.mu.Lock()
	old := c.cc
	c.cc = v
	closeIO := false
	switch {
	case v&nvme.CCEnable != 0 && old&nvme.CCEnable == 0:
		if c.validCC(v) {
			c.csts |= nvme.CSTSReady
		} else {
			c.csts |= nvme.CSTSFatal
		}
	case v&nvme.CCEnable == 0 && old&nvme.CCEnable != 0:
		// Controller reset: not ready, I/O queues deleted.
		c.csts &^= nvme.CSTSReady | nvme.CSTSFatal | nvme.CSTSShstMask
		closeIO = true
	}
	switch {
	case v&nvme.CCShnMask != 0 && old&nvme.CCShnMask == 0:
		c.csts = c.csts&^nvme.CSTSShstMask | nvme.CSTSShstDone
		closeIO = true
	case v&nvme.CCShnMask == 0 && old&nvme.CCShnMask != 0:
		c.csts &^= nvme.CSTSShstMask
	}
	var io []*conn
	if closeIO {
		for qid, q := range c.queues {
			if qid != 0 {
				io = append(io, q)
				delete(c.queues, qid)
			}
		}
	}
	c.mu.Unlock()
	for _, q := range io {
		q.kill()
	}
}

// validCC checks the CC fields the controller requires when enabled:
// 4 KiB pages, round robin arbitration, the NVM command set and, for I/O
// controllers, 64-byte submission and 16-byte completion queue entries.
func (c *controller) validCC(v uint32) bool {
	css, mps, ams := v>>4&7, v>>7&0xf, v>>11&7
	if css != 0 || mps != 0 || ams != 0 {
		return false
	}
	if c.discovery() {
		return true
	}
	return v&nvme.CCIOSQESMask == nvme.CCIOSQES && v&nvme.CCIOCQESMask == nvme.CCIOCQES
}

// addQueue binds a connection to queue qid; it fails if the controller is
// gone or the queue exists.
func (c *controller) addQueue(qid uint16, q *conn) nvme.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.dead:
		return nvme.StatusConnectInvalidParam | nvme.StatusDNR
	case qid > 0 && c.csts&nvme.CSTSReady == 0:
		return nvme.StatusCommandSequenceError | nvme.StatusDNR
	case qid > 0 && int(qid) > c.ioQueues:
		return nvme.StatusConnectInvalidParam | nvme.StatusDNR
	case c.queues[qid] != nil:
		return nvme.StatusCommandSequenceError | nvme.StatusDNR
	}
	c.queues[qid] = q
	return 0
}

// removeQueue unbinds q; closing the admin queue ends the controller.
func (c *controller) removeQueue(qid uint16, q *conn) {
	if qid == 0 {
		c.teardown("admin queue closed")
		return
	}
	c.mu.Lock()
	if c.queues[qid] == q {
		delete(c.queues, qid)
	}
	c.mu.Unlock()
}

// teardown ends the controller: it leaves the subsystem and its
// connections are closed.
func (c *controller) teardown(reason string) {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.dead = true
	close(c.done)
	if c.kaTimer != nil {
		c.kaTimer.Stop()
	}
	qs := make([]*conn, 0, len(c.queues))
	for _, q := range c.queues {
		qs = append(qs, q)
	}
	clear(c.queues)
	c.mu.Unlock()
	c.t.removeController(c)
	for _, q := range qs {
		q.kill()
	}
	c.t.log.Info("controller removed", "cntlid", c.id, "hostnqn", c.hostnqn, "reason", reason)
}

// namespaceChanged records a namespace change and reports it to the host
// if it enabled namespace attribute notices.
func (c *controller) namespaceChanged(nsid uint32) {
	if c.discovery() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.overflow {
		c.changed[nsid] = struct{}{}
		if len(c.changed) > nvme.NSIDsPerList {
			c.overflow = true
			clear(c.changed)
		}
	}
	if c.aenCfg&nvme.AsyncEventNamespaceChanged != 0 {
		c.pending = true
		c.deliverLocked()
	}
}

// deliverLocked completes an outstanding AER if an event may be
// reported: a namespace change (on a discovery controller, a discovery
// log change), else an ANA change. Each notice is masked
// once reported until its log is read, as with Linux's nvmet.
func (c *controller) deliverLocked() {
	for len(c.aers) > 0 {
		var r uint64
		switch {
		case c.pending && !c.masked && c.discovery():
			r = aenResultDiscoveryChange
			c.pending, c.masked = false, true
		case c.pending && !c.masked:
			r = aenResultNSChange
			c.pending, c.masked = false, true
		case c.ana && !c.anaMask:
			r = aenResultANAChange
			c.ana, c.anaMask = false, true
		default:
			return
		}
		ch := c.aers[0]
		c.aers = c.aers[1:]
		ch <- r
	}
}

// asyncEvent serves an Asynchronous Event Request: it completes when an
// event is reported, and stays outstanding otherwise.
func (c *controller) asyncEvent(ctx context.Context) response {
	c.mu.Lock()
	if len(c.aers) >= aerLimit {
		c.mu.Unlock()
		return fail(nvme.StatusAsyncEventLimit | nvme.StatusDNR)
	}
	ch := make(chan uint64, 1)
	c.aers = append(c.aers, ch)
	c.deliverLocked()
	c.mu.Unlock()
	select {
	case r := <-ch:
		return response{result: r}
	case <-ctx.Done():
	case <-c.done:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range c.aers {
		if w == ch {
			c.aers = append(c.aers[:i], c.aers[i+1:]...)
			break
		}
	}
	select {
	case r := <-ch: // reported to a host that is gone: report it again
		if r == aenResultANAChange {
			c.ana, c.anaMask = true, false
		} else {
			c.pending, c.masked = true, false
		}
	default:
	}
	return fail(nvme.StatusAbortRequested)
}

// changedLog returns the Changed Namespace List; unless rae is set it
// clears the list and re-arms the event.
func (c *controller) changedLog(rae bool) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := appendChangedList(nil, slices.Sorted(maps.Keys(c.changed)), c.overflow)
	if !rae {
		clear(c.changed)
		c.overflow = false
		c.masked = false
		c.deliverLocked()
	}
	return b
}
