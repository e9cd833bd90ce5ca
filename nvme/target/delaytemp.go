package target

// Temporary link delay, used until package internal/netem provides Wrap:
// every byte written or read is delivered d later, without serialising
// writes, so many PDUs are in flight at once as on a long link.

import (
	"net"
	"sync"
	"time"
)

type chunk struct {
	b   []byte
	at  time.Time
	err error
}

type delayConn struct {
	net.Conn
	d      time.Duration
	in     chan chunk // received, to be read once due
	out    chan chunk // written, to be sent once due
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	rmu  sync.Mutex
	rbuf []byte
	rerr error

	emu  sync.Mutex
	werr error
}

func delayed(c net.Conn, d time.Duration) net.Conn {
	dc := &delayConn{Conn: c, d: d, in: make(chan chunk, 256), out: make(chan chunk, 256), closed: make(chan struct{})}
	dc.wg.Go(dc.receive)
	dc.wg.Go(dc.send)
	return dc
}

func waitUntil(t time.Time, stop <-chan struct{}) bool {
	if d := time.Until(t); d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-stop:
			return false
		}
	}
	return true
}

func (c *delayConn) receive() {
	defer close(c.in)
	for {
		b := make([]byte, 32<<10)
		n, err := c.Conn.Read(b)
		if n > 0 {
			select {
			case c.in <- chunk{b: b[:n], at: time.Now().Add(c.d)}:
			case <-c.closed:
				return
			}
		}
		if err != nil {
			select {
			case c.in <- chunk{err: err, at: time.Now().Add(c.d)}:
			case <-c.closed:
			}
			return
		}
	}
}

func (c *delayConn) send() {
	for {
		select {
		case ch := <-c.out:
			if !waitUntil(ch.at, c.closed) {
				return
			}
			if _, err := c.Conn.Write(ch.b); err != nil {
				c.emu.Lock()
				c.werr = err
				c.emu.Unlock()
				c.Conn.Close()
				return
			}
		case <-c.closed:
			return
		}
	}
}

func (c *delayConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.rbuf) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		ch, ok := <-c.in
		if !ok {
			return 0, net.ErrClosed
		}
		if !waitUntil(ch.at, c.closed) {
			return 0, net.ErrClosed
		}
		c.rbuf, c.rerr = ch.b, ch.err
	}
	n := copy(p, c.rbuf)
	c.rbuf = c.rbuf[n:]
	return n, nil
}

func (c *delayConn) Write(p []byte) (int, error) {
	c.emu.Lock()
	err := c.werr
	c.emu.Unlock()
	if err != nil {
		return 0, err
	}
	select {
	case c.out <- chunk{b: append([]byte(nil), p...), at: time.Now().Add(c.d)}:
		return len(p), nil
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

func (c *delayConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		close(c.closed)
		err = c.Conn.Close()
		c.wg.Wait()
	})
	return err
}
