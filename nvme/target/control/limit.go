package control

import (
	"net"
	"sync"
	"sync/atomic"
)

// MaxConns is the most connections Serve keeps open at once, as SPDK's
// RPC server keeps at most 64 (SPDK_JSONRPC_MAX_CONNS): one more is
// closed as soon as it is accepted, with no answer, and the client sees
// its connection end (EOF or a reset). A connection counts from its
// accept until Serve closes it (idle after 30 s, or when the client
// closes it).
const MaxConns = 64

// limitListener accepts at most max connections open at once, and
// closes any other as soon as it is accepted.
type limitListener struct {
	net.Listener
	max  int64
	open atomic.Int64
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &countedConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		c.Close()
	}
}

// countedConn gives its place back to its listener when first closed.
type countedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

// Close gives the place back before closing, so that a client that saw
// the connection end may connect again at once.
func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}
