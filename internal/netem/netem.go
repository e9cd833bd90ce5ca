// Package netem emulates a long network link on a net.Conn: every byte is
// delivered a fixed one-way delay (plus optional jitter) after it was sent,
// in both directions, without serialising — many writes are in flight at
// once, as on a real link, so Q messages sent back to back arrive one delay
// later, not Q delays later.
//
// Wrapping one end of a connection is enough: with Delay = RTT/2 on a
// server's accepted connections, every client sees a round-trip time of
// RTT.
//
//	ln, _ := net.Listen("tcp", "127.0.0.1:0")
//	c, _ := ln.Accept()
//	c = netem.Wrap(c, netem.Link{Delay: rtt / 2})
package netem

import (
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"time"
)

// Link describes the emulated link.
type Link struct {
	// Delay is the one-way delay added in each direction: bytes written
	// on the wrapped connection reach the peer Delay later, and bytes the
	// peer wrote become readable Delay after they arrived. Wrapping one
	// end of a connection thus adds 2 × Delay to its round-trip time.
	Delay time.Duration
	// Jitter adds a random extra delay in [0, Jitter) to each write (and
	// each read from the underlying connection), but never reorders
	// bytes: data is never delivered before data sent earlier.
	Jitter time.Duration
	// Seed seeds the jitter.
	Seed uint64
	// Spin is how long before each delivery the link stops sleeping and
	// polls the clock: timers on many systems fire up to a millisecond
	// late, which would add to short delays. 0 means 1.5 ms; a negative
	// value disables polling (then delays are only as exact as timers;
	// use it under testing/synctest, where polling never sees time move).
	Spin time.Duration
}

// Wrap returns a connection that sends and receives through c with the
// delays of l. It uses two goroutines, one each way, whatever the number
// of writes in flight.
//
// Deadlines are honoured by the returned connection itself, not passed to
// c: a Read past its deadline fails with an error for which
// errors.Is(err, os.ErrDeadlineExceeded) holds, and the connection stays
// usable once the deadline is moved.
//
// Close delivers the data already written, each byte at its due time, as
// TCP delivers data before its FIN, then closes c; it waits at most one
// second past the last due time for a peer that does not read. Reads
// pending or made after Close fail with net.ErrClosed, as do writes.
func Wrap(c net.Conn, l Link) net.Conn {
	if l.Spin == 0 {
		l.Spin = 1500 * time.Microsecond
	}
	d := &conn{Conn: c, link: l, in: make(chan chunk, 1024), out: make(chan chunk, 1024),
		closing: make(chan struct{}), closed: make(chan struct{}), sent: make(chan struct{}),
		rin: rand.New(rand.NewPCG(l.Seed, 1)), rout: rand.New(rand.NewPCG(l.Seed, 2)),
		rd: newDeadline(), wd: newDeadline()}
	d.wg.Add(1)
	go d.receive()
	go d.send()
	return d
}

// A chunk is data in flight, due at at; buf is its pooled buffer.
type chunk struct {
	b   []byte
	buf *[]byte
	at  time.Time
	err error
}

type conn struct {
	net.Conn
	link    Link
	in      chan chunk    // received from c, readable once due
	out     chan chunk    // written, sent to c once due; closed by Close
	closing chan struct{} // closed first by Close: Read and Write fail
	closed  chan struct{} // closed once c is closed: the goroutines stop
	sent    chan struct{} // closed when send returns
	once    sync.Once
	wg      sync.WaitGroup // receive
	rd, wd  *deadline

	rmu  sync.Mutex
	rch  chunk // the chunk being read
	rerr error

	wmu     sync.Mutex
	werr    error
	rout    *rand.Rand // guarded by wmu
	lastOut time.Time  // guarded by wmu
	rin     *rand.Rand // owned by receive
}

// due returns when data sent now arrives, never before last.
func (c *conn) due(last time.Time, rng *rand.Rand) time.Time {
	d := c.link.Delay
	if c.link.Jitter > 0 {
		d += time.Duration(rng.Int64N(int64(c.link.Jitter)))
	}
	return maxTime(time.Now().Add(d), last)
}

func maxTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// wait returns true at t, or false if stop or stop2 is closed first.
func (c *conn) wait(t time.Time, stop, stop2 <-chan struct{}) bool {
	// time.Until saturates for times long past (such as the zero time,
	// which means "due now"): compare before subtracting, which would
	// overflow to a wait of centuries.
	if d, spin := time.Until(t), max(c.link.Spin, 0); d > spin {
		tm := time.NewTimer(d - spin)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-stop:
			return false
		case <-stop2:
			return false
		}
	}
	if c.link.Spin > 0 {
		for time.Now().Before(t) {
			select {
			case <-stop:
				return false
			case <-stop2:
				return false
			default:
			}
			runtime.Gosched()
		}
	}
	return true
}

func (c *conn) receive() {
	defer c.wg.Done()
	defer close(c.in)
	var last time.Time
	rbuf := make([]byte, largeBuf)
	for {
		n, err := c.Conn.Read(rbuf)
		if n > 0 {
			last = c.due(last, c.rin)
			b, buf := getBuf(n)
			copy(b, rbuf[:n])
			select {
			case c.in <- chunk{b: b, buf: buf, at: last}:
			case <-c.closed:
				return
			}
		}
		if err != nil {
			select {
			case c.in <- chunk{err: err, at: maxTime(time.Now().Add(c.link.Delay), last)}:
			case <-c.closed:
			}
			return
		}
	}
}

func (c *conn) send() {
	defer close(c.sent)
	// Everything already due goes out in one vectored write, as a link
	// delivers back-to-back segments together, with no copy.
	var (
		vec  net.Buffers
		bufs []*[]byte
	)
	add := func(ch chunk) {
		vec = append(vec, ch.b)
		bufs = append(bufs, ch.buf)
	}
	flush := func() bool {
		v := vec // WriteTo consumes its receiver
		ok := c.write(&v)
		for i, buf := range bufs {
			putBuf(buf)
			bufs[i], vec[i] = nil, nil
		}
		vec, bufs = vec[:0], bufs[:0]
		return ok
	}
	for ch := range c.out {
		if !c.wait(ch.at, c.closed, nil) {
			putBuf(ch.buf)
			break
		}
		add(ch)
	more:
		for {
			select {
			case next, ok := <-c.out:
				if !ok {
					break more
				}
				if next.at.After(time.Now()) {
					if !flush() || !c.wait(next.at, c.closed, nil) {
						putBuf(next.buf)
						goto fail
					}
				}
				add(next)
			default:
				break more
			}
		}
		if !flush() {
			break
		}
	}
fail:
	// Keep Write from blocking on a full queue until Close.
	for ch := range c.out {
		putBuf(ch.buf)
	}
}

// write writes v to c; on failure it records the error for Write and
// closes c, ending the connection as a broken link does.
func (c *conn) write(v *net.Buffers) bool {
	if _, err := v.WriteTo(c.Conn); err != nil {
		c.wmu.Lock()
		if c.werr == nil {
			c.werr = err
		}
		c.wmu.Unlock()
		c.Conn.Close()
		return false
	}
	return true
}

// Read reads data that has arrived: bytes the peer wrote at least Delay
// ago. It fills p with as much arrived data as is at hand.
func (c *conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if isClosed(c.closing) {
		return 0, net.ErrClosed
	}
	if err := c.readable(); err != nil {
		return 0, err
	}
	if len(c.rch.b) == 0 {
		return 0, c.rerr
	}
	if !c.wait(c.rch.at, c.closing, c.rd.done()) {
		return 0, c.stopErr()
	}
	n := 0
	for {
		m := copy(p[n:], c.rch.b)
		c.rch.b = c.rch.b[m:]
		n += m
		if len(c.rch.b) > 0 || n == len(p) {
			return n, nil
		}
		putBuf(c.rch.buf)
		c.rch = chunk{}
		// Take the next chunk too if it has arrived already.
		select {
		case ch, ok := <-c.in:
			if !ok {
				c.rerr = net.ErrClosed
				return n, nil
			}
			if ch.err != nil {
				c.rerr = ch.err
				if ch.at.After(time.Now()) {
					c.rch.at = ch.at // the error is due later
				}
				return n, nil
			}
			c.rch = ch
			if ch.at.After(time.Now()) {
				return n, nil // not arrived yet: a later Read waits for it
			}
		default:
			return n, nil
		}
	}
}

// readable makes c.rch hold unread data, or c.rerr the error to report,
// waiting for the next chunk if need be.
func (c *conn) readable() error {
	for len(c.rch.b) == 0 && c.rerr == nil {
		select {
		case ch, ok := <-c.in:
			if !ok {
				c.rerr = net.ErrClosed
				break
			}
			c.rch, c.rerr = ch, ch.err
		case <-c.closing:
			return net.ErrClosed
		case <-c.rd.done():
			return os.ErrDeadlineExceeded
		}
	}
	if c.rerr != nil && len(c.rch.b) == 0 {
		// An error (such as io.EOF) arrives when the peer's last byte
		// would have.
		if !c.wait(c.rch.at, c.closing, c.rd.done()) {
			return c.stopErr()
		}
		c.rch.at = time.Time{}
	}
	return nil
}

// stopErr reports why a wait on closing or the read deadline stopped.
func (c *conn) stopErr() error {
	select {
	case <-c.closing:
		return net.ErrClosed
	default:
		return os.ErrDeadlineExceeded
	}
}

// Write queues a copy of p for delivery Delay from now and returns at once
// (it blocks only when a great many writes are in flight).
func (c *conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock() // queue in the order of the due times
	if c.werr != nil {
		return 0, c.werr
	}
	select {
	case <-c.wd.done():
		return 0, os.ErrDeadlineExceeded
	default:
	}
	c.lastOut = c.due(c.lastOut, c.rout)
	// Large writes travel as several pooled chunks, all due together.
	for n := 0; n < len(p); {
		b, buf := getBuf(min(len(p)-n, largeBuf))
		m := copy(b, p[n:])
		select {
		case c.out <- chunk{b: b, buf: buf, at: c.lastOut}:
			n += m
		case <-c.closing:
			putBuf(buf)
			return n, net.ErrClosed
		case <-c.wd.done():
			putBuf(buf)
			return n, os.ErrDeadlineExceeded
		}
	}
	return len(p), nil
}

// Close delivers the data written so far at its due time, closes the
// underlying connection and waits for the link's goroutines to stop.
func (c *conn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		close(c.closing) // release blocked Reads and Writes
		c.wmu.Lock()
		if c.werr == nil {
			c.werr = net.ErrClosed
		}
		close(c.out)
		last := c.lastOut
		c.wmu.Unlock()
		// A peer that does not read must not hold Close for ever.
		tm := time.NewTimer(time.Until(last) + time.Second)
		select {
		case <-c.sent:
		case <-tm.C:
		}
		tm.Stop()
		err = c.Conn.Close()
		close(c.closed)
		<-c.sent
		c.wg.Wait()
		c.rd.set(time.Time{})
		c.wd.set(time.Time{})
	})
	return err
}

// SetDeadline sets the read and write deadlines of the wrapped connection.
func (c *conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read.
func (c *conn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline sets the deadline for Write. Writes rarely block; data
// already accepted is delivered whatever the deadline.
func (c *conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// A deadline is a channel closed when the deadline passes, as in net.Pipe.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func newDeadline() *deadline { return &deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Buffers in flight come from two pools, small and large; bigger ones are
// not pooled. A read fills at most a large one, and writes are cut to
// fit.
const smallBuf, largeBuf = 512, 32 << 10

var pools = [2]sync.Pool{
	{New: func() any { b := make([]byte, smallBuf); return &b }},
	{New: func() any { b := make([]byte, largeBuf); return &b }},
}

// getBuf returns a slice of length n and the pooled buffer holding it
// (nil if none).
func getBuf(n int) ([]byte, *[]byte) {
	switch {
	case n <= smallBuf:
		buf := pools[0].Get().(*[]byte)
		return (*buf)[:n], buf
	case n <= largeBuf:
		buf := pools[1].Get().(*[]byte)
		return (*buf)[:n], buf
	}
	return make([]byte, n), nil
}

func putBuf(buf *[]byte) {
	if buf == nil {
		return
	}
	switch cap(*buf) {
	case smallBuf:
		pools[0].Put(buf)
	case largeBuf:
		pools[1].Put(buf)
	}
}
