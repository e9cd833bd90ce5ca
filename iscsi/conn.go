package iscsi

import (
	"bufio"
	"context"
	"net"
	"sync"
	"time"
)

// writeTimeout bounds each PDU's write: a peer that reads nothing for
// this long loses the connection.
const writeTimeout = 30 * time.Second

// conn is one TCP connection carrying PDUs: reads from one goroutine,
// writes from many, each PDU written whole.
type conn struct {
	nc  net.Conn
	r   *bufio.Reader
	mu  sync.Mutex // guards w and buf
	w   *bufio.Writer
	buf []byte
	// in and out are set once login has negotiated them, before the
	// full feature phase's reader and writers start.
	in  Limits // what this side accepts
	out Limits // digests the peer expects (same as in once negotiated)
}

func newConn(nc net.Conn) *conn {
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10)}
}

func (c *conn) read() (*PDU, error) { return ReadPDU(c.r, c.in) }

// write sends p; prepare, if not nil, runs under the write lock just
// before, to number the PDU in the order it goes on the wire.
func (c *conn) write(p *PDU, prepare func(*PDU)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if prepare != nil {
		prepare(p)
	}
	c.buf = AppendPDU(c.buf[:0], p, c.out)
	if _, err := c.w.Write(c.buf); err != nil {
		return err
	}
	if len(c.buf) > 256<<10 {
		c.buf = nil // do not keep a large buffer
	}
	return c.w.Flush()
}

// deadline sets the connection's deadline from ctx until the returned
// function is called; a ctx done early closes the wait at once.
func (c *conn) deadline(ctx context.Context) func() {
	if d, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	return func() {
		stop()
		c.nc.SetDeadline(time.Time{})
	}
}
