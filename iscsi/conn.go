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

// Sizes of a connection's read buffer: a target's connection reads its
// login through a small one, so that connections that send nothing cost
// little, and later PDUs through a larger one.
const (
	loginReadSize = 4 << 10
	readSize      = 64 << 10
)

// conn is one TCP connection carrying PDUs: reads from one goroutine,
// writes from many, each PDU written whole.
type conn struct {
	nc  net.Conn
	r   *bufio.Reader
	mu  sync.Mutex // guards buf
	buf []byte     // the PDU being written
	// in and out are set once login has negotiated them, before the
	// full feature phase's reader and writers start.
	in  Limits // what this side accepts
	out Limits // digests the peer expects (same as in once negotiated)
}

// newConn returns a conn of nc reading through a buffer of size bytes.
func newConn(nc net.Conn, size int) *conn {
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, size)}
}

// growReads makes the conn read through a buffer of readSize bytes,
// behind the one it has: what that one holds is read first.
func (c *conn) growReads() { c.r = bufio.NewReaderSize(c.r, readSize) }

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
	_, err := c.nc.Write(c.buf) // the whole PDU in one write
	if len(c.buf) > 256<<10 {
		c.buf = nil // do not keep a large buffer
	}
	return err
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
