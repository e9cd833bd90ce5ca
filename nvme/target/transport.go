package target

import (
	"context"
	"errors"
	"net"

	"github.com/complchain/complchain/internal/netem"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// inCapsuleSize is the in-capsule data an I/O command may carry
// (Identify Controller IOCCSZ reports 64 bytes more), and maxH2CData the
// MAXH2CDATA the target advertises in ICResp.
const (
	inCapsuleSize = 8192
	maxH2CData    = 128 << 10
)

// serveConn serves one accepted connection until it ends or ctx is done.
func (t *Target) serveConn(ctx context.Context, nc net.Conn, p *Port) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := &conn{t: t, local: nc.LocalAddr(), remote: nc.RemoteAddr(), port: p}
	q.kill = func() {
		cancel()
		nc.Close()
	}
	var c net.Conn = nc
	if t.cfg.Delay > 0 {
		c = netem.Wrap(nc, netem.Link{Delay: t.cfg.Delay})
	}
	t.log.Debug("connection accepted", "remote", q.remote.String())
	l := &t.cfg.Limits
	cfg := tcp.TargetConfig{
		MaxH2CData:     maxH2CData,
		InCapsuleSize:  inCapsuleSize,
		MaxTransfer:    maxTransfer,
		MaxOutstanding: 2 * max(t.cfg.AdminQueueDepth, t.cfg.IOQueueDepth), // as nvmet-tcp: twice the queue
		ConnectTimeout: l.ConnectTimeout + 2*t.cfg.Delay,
		DataTimeout:    l.DataTimeout + 2*t.cfg.Delay,
		WriteBudget:    l.ConnWriteBudget,
		Budget:         t.budget,
		ReadBudget:     t.reads,
		MalformedAfter: t.faults.Load().MalformedAfter,
	}
	err := tcp.ServeTarget(ctx, c, cfg, connHandler{q})
	c.Close()
	q.release()
	switch {
	case errors.Is(err, tcp.ErrConnectTimeout):
		t.warn.log(t, "connection closed: no Connect in time", "remote", q.remote.String(), "timeout", cfg.ConnectTimeout)
	case errors.Is(err, tcp.ErrSendTimeout):
		t.warn.log(t, "connection closed: host not reading", "remote", q.remote.String(), "timeout", cfg.DataTimeout)
	case errors.Is(err, tcp.ErrDataTimeout):
		t.warn.log(t, "connection closed: write data late", "remote", q.remote.String(), "err", err)
	default:
		t.log.Debug("connection closed", "remote", q.remote.String(), "err", err)
	}
}

// connHandler serves a connection's commands: those that do not wait on
// the goroutine that reads the connection (tcp.InlineHandler), the others
// in goroutines of their own.
type connHandler struct{ q *conn }

// ServeNVMe executes a command that may wait.
func (h connHandler) ServeNVMe(ctx context.Context, req *tcp.Request) tcp.Response {
	return h.q.serve(ctx, &req.Command, req.Data).wire()
}

// ServeNVMeInline executes a command that does not wait, and reports
// false for one that would.
func (h connHandler) ServeNVMeInline(ctx context.Context, req *tcp.Request) (tcp.Response, bool) {
	r, ok := h.q.exec(ctx, &req.Command, req.Data, false)
	return r.wire(), ok
}

// wire returns r as the transport sends it.
func (r response) wire() tcp.Response {
	return tcp.Response{Completion: nvme.Completion{Result: r.result, Status: r.status}, Data: r.data, Release: r.release}
}
