package target

import (
	"cmp"
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/complchain/complchain/nvme"
)

// conn is the state of one NVMe/TCP connection: one queue of one
// controller once Connect succeeded.
type conn struct {
	t      *Target
	local  net.Addr // the connection's local address
	port   *Port    // the port it was accepted on
	remote net.Addr
	kill   func() // closes the connection
	ncmds  atomic.Int64

	bound atomic.Pointer[binding] // set by a successful Connect
}

// binding is the controller and queue a connection serves.
type binding struct {
	ctrl *controller
	qid  uint16
}

// state returns the controller and queue ID the connection serves, or
// nil before Connect: one atomic load, no lock, per command.
func (q *conn) state() (*controller, uint16) {
	if b := q.bound.Load(); b != nil {
		return b.ctrl, b.qid
	}
	return nil, 0
}

// release unbinds the connection from its controller when it ends.
func (q *conn) release() {
	c, qid := q.state()
	if c != nil {
		c.removeQueue(qid, q)
	}
}

// serve executes one command received on the connection, in a goroutine
// of its own: it may wait (service time, delays, held namespaces, AER).
func (q *conn) serve(ctx context.Context, cmd *nvme.Command, data []byte) response {
	r, _ := q.exec(ctx, cmd, data, true)
	return r
}

// exec executes one command. Unless mayWait, a command that would wait
// (an Asynchronous Event Request, a service time, a namespace fault that
// delays or holds it, a Connect that is delayed) is left alone, counted
// nowhere, and exec reports false: the transport then serves it in a
// goroutine of its own. The queue's binding and the faults are read once
// per call.
func (q *conn) exec(ctx context.Context, cmd *nvme.Command, data []byte, mayWait bool) (response, bool) {
	f := q.t.faults.Load()
	c, qid := q.state()
	var (
		hang  bool
		delay time.Duration
		st    nvme.Status
	)
	if c != nil && cmd.Opcode != nvme.OpFabrics {
		delay = c.serviceTime(cmd, qid)
		if nsid, ok := targetNSID(cmd, qid); ok {
			var d time.Duration
			hang, d, st = c.nsFaults(f, nsid, qid == 0)
			delay += d
		}
	}
	if !mayWait && (hang || delay > 0 || cmd.Opcode == nvme.OpAsyncEvent || q.t.cfg.ServiceTime > 0 ||
		(c == nil && isConnect(cmd) && q.t.connectDelays.Load())) {
		return response{}, false
	}
	if n := q.ncmds.Add(1); f.DropAfter > 0 && n > int64(f.DropAfter) {
		q.t.log.Info("dropping connection", "remote", q.remote.String(), "after", f.DropAfter)
		q.kill()
		<-ctx.Done()
		return fail(nvme.StatusAbortRequested), true
	}
	if cmd.Opcode == nvme.OpFabrics {
		return q.fabrics(ctx, cmd, data), true
	}
	if c == nil {
		return fail(nvme.StatusCommandSequenceError | nvme.StatusDNR), true
	}
	c.touch()
	if !c.ready() {
		return fail(nvme.StatusCommandSequenceError | nvme.StatusDNR), true
	}
	if qid == 0 && cmd.Opcode == nvme.OpAsyncEvent {
		return c.asyncEvent(ctx), true
	}
	if hang {
		<-ctx.Done()
		return fail(nvme.StatusAbortRequested), true
	}
	if sleep(ctx, delay) != nil {
		return fail(nvme.StatusAbortRequested), true
	}
	if st != 0 {
		return fail(st), true
	}
	if qid == 0 {
		return c.admin(q, cmd, data), true
	}
	return c.io(cmd, data), true
}

func isConnect(cmd *nvme.Command) bool {
	return cmd.Opcode == nvme.OpFabrics && cmd.FabricsType() == nvme.FabricsConnect
}

// subFaults returns the faults of c's subsystem; none for a discovery
// controller.
func (c *controller) subFaults() *Faults {
	if c.sub == nil {
		return &noFaults
	}
	return c.sub.faults.Load()
}

var noFaults Faults // read only

// serviceTime is how long c takes to execute cmd, received on queue qid:
// the service times, and the subsystem's identify delay for Identify.
func (c *controller) serviceTime(cmd *nvme.Command, qid uint16) time.Duration {
	d := c.t.cfg.ServiceTime
	if c.sub != nil {
		d += c.sub.cfg.ServiceTime
		if qid == 0 && cmd.Opcode == nvme.OpIdentify {
			d += c.sub.cfg.IdentifyDelay
		}
	}
	return d
}

// connectDelay is how long a Connect through q that creates a controller
// of sub (nil: the discovery subsystem) takes.
func (q *conn) connectDelay(sub *Subsystem) time.Duration {
	d := q.port.cfg.ConnectDelay
	if sub != nil {
		d += sub.cfg.ConnectDelay
	}
	return d
}

// nsFaults returns the faults injected on c's commands naming namespace
// nsid, the Target's (f, as read for the command) and the subsystem's: whether it hangs, the delay
// added (with the identify delays for an Identify of the namespace) and
// the status returned (the subsystem's, else the Target's).
func (c *controller) nsFaults(f *Faults, nsid uint32, identify bool) (hang bool, delay time.Duration, st nvme.Status) {
	hang, delay, st = f.Hang[nsid], f.Delay[nsid], f.Status[nsid]
	sf := c.subFaults()
	if identify {
		delay += f.IdentifyDelay[nsid] + sf.IdentifyDelay[nsid]
	}
	return hang || sf.Hang[nsid], delay + sf.Delay[nsid], cmp.Or(sf.Status[nsid], st)
}

// targetNSID returns the namespace a command is about, for fault
// injection: Identify of a namespace, and every I/O command.
func targetNSID(cmd *nvme.Command, qid uint16) (uint32, bool) {
	if qid > 0 {
		return cmd.NSID, true
	}
	if cmd.Opcode == nvme.OpIdentify {
		switch cmd.IdentifyCNS() {
		case nvme.CNSNamespace, nvme.CNSNSDescriptors, nvme.CNSCSNamespace, nvme.CNSCSIndependentNS:
			return cmd.NSID, true
		}
	}
	return 0, false
}

// fabrics executes a fabrics command: Connect, Property Get and Set.
func (q *conn) fabrics(ctx context.Context, cmd *nvme.Command, data []byte) response {
	c, qid := q.state()
	if cmd.FabricsType() == nvme.FabricsConnect {
		if c != nil {
			return fail(nvme.StatusCommandSequenceError | nvme.StatusDNR)
		}
		return q.connect(ctx, cmd, data)
	}
	if c == nil {
		return fail(nvme.StatusCommandSequenceError | nvme.StatusDNR)
	}
	c.touch()
	if qid != 0 {
		return fail(nvme.StatusInvalidOpcode | nvme.StatusDNR)
	}
	switch cmd.FabricsType() {
	case nvme.FabricsPropertyGet:
		return c.propertyGet(cmd)
	case nvme.FabricsPropertySet:
		return c.propertySet(cmd)
	}
	return fail(nvme.StatusInvalidOpcode | nvme.StatusDNR)
}

// invalidParam is Connect Invalid Parameters naming the refused
// parameter p in the response's dword 0 (IATTR and IPO).
func invalidParam(p nvme.ConnectParam) response {
	return response{status: nvme.StatusConnectInvalidParam | nvme.StatusDNR, result: uint64(p)}
}

// connect executes Connect: it creates a controller (admin queue) or binds
// an I/O queue to one.
func (q *conn) connect(ctx context.Context, cmd *nvme.Command, data []byte) response {
	recfmt := uint16(cmd.CDW10)
	qid := uint16(cmd.CDW10 >> 16)
	sqsize := uint16(cmd.CDW11)
	kato := time.Duration(cmd.CDW12) * time.Millisecond
	if recfmt != 0 {
		return fail(nvme.StatusConnectIncompatible | nvme.StatusDNR)
	}
	var cd nvme.ConnectData
	if cd.UnmarshalBinary(data) != nil {
		return fail(nvme.StatusSGLInvalidData | nvme.StatusDNR)
	}
	disc := cd.SubsystemNQN == nvme.DiscoveryNQN
	sub := q.t.Subsystem(cd.SubsystemNQN)
	if !disc && sub == nil {
		q.t.warn.log(q.t, "connect refused: unknown subsystem", "subnqn", cd.SubsystemNQN, "hostnqn", cd.HostNQN,
			"remote", q.remote.String())
		return invalidParam(nvme.ConnectParamSUBNQN)
	}
	if !disc && !sub.allows(cd.HostNQN) {
		q.t.warn.log(q.t, "connect refused: host not allowed", "hostnqn", cd.HostNQN, "subnqn", sub.cfg.NQN,
			"remote", q.remote.String())
		return response{status: nvme.StatusConnectInvalidHost | nvme.StatusDNR, result: uint64(nvme.ConnectParamHOSTNQN)}
	}
	depth := q.t.cfg.IOQueueDepth
	if qid == 0 {
		depth = q.t.cfg.AdminQueueDepth
	}
	if sqsize == 0 || int(sqsize) >= depth {
		return invalidParam(nvme.ConnectParamSQSIZE)
	}
	if qid == 0 {
		if cd.CNTLID != nvme.DynamicController {
			return invalidParam(nvme.ConnectParamCNTLID)
		}
		if d := q.connectDelay(sub); d > 0 && sleep(ctx, d) != nil {
			return fail(nvme.StatusAbortRequested)
		}
		c := newController(q.t, sub, cd, kato)
		c.port = q.port
		if !q.t.addController(c) {
			c.teardown("no controller ID")
			return fail(nvme.StatusConnectControllerBusy)
		}
		c.addQueue(0, q)
		q.bound.Store(&binding{c, 0})
		q.t.log.Info("controller created", "cntlid", c.id, "subnqn", cd.SubsystemNQN, "hostnqn", cd.HostNQN,
			"remote", q.remote.String(), "kato", kato)
		return response{result: uint64(c.id)}
	}
	c := q.t.controller(cd.CNTLID)
	if c == nil || c.sub != sub || c.hostnqn != cd.HostNQN {
		return invalidParam(nvme.ConnectParamCNTLID)
	}
	if disc {
		return invalidParam(nvme.ConnectParamQID)
	}
	if st := c.addQueue(qid, q); st != 0 {
		if st.Code() == nvme.StatusConnectInvalidParam {
			return invalidParam(nvme.ConnectParamQID)
		}
		return fail(st)
	}
	q.bound.Store(&binding{c, qid})
	q.t.log.Debug("I/O queue connected", "cntlid", c.id, "qid", qid, "remote", q.remote.String())
	return response{result: uint64(c.id)}
}
