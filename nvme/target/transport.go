package target

import (
	"context"
	"net"

	"github.com/complchain/complchain/internal/netem"
)

// inCapsuleSize is the in-capsule data an I/O command may carry
// (Identify Controller IOCCSZ reports 64 bytes more).
const inCapsuleSize = 8192

// serveConn serves one accepted connection until it ends or ctx is done.
func (t *Target) serveConn(ctx context.Context, nc net.Conn, listen net.Addr) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := &conn{t: t, local: nc.LocalAddr(), remote: nc.RemoteAddr(), listen: listen}
	q.kill = func() {
		cancel()
		nc.Close()
	}
	var c net.Conn = nc
	if t.cfg.Delay > 0 {
		c = netem.Wrap(nc, netem.Link{Delay: t.cfg.Delay})
	}
	t.log.Debug("connection accepted", "remote", q.remote.String())
	err := serveTCP(ctx, c, q, t.faults.Load().MalformedAfter, 2*t.cfg.QueueDepth)
	c.Close()
	q.release()
	t.log.Debug("connection closed", "remote", q.remote.String(), "err", err)
}
