// Package netem emulates a long network link on a net.Conn: every byte is
// delivered a fixed one-way delay (plus optional jitter) after it was sent,
// in both directions, without serialising — many writes are in flight at
// once, as on a real link, so Q messages sent back to back arrive one delay
// later, not Q delays later.
package netem

import (
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"time"
)

// Link describes the emulated link.
type Link struct {
	// Delay is the one-way delay added in each direction: wrapping one end
	// of a connection adds 2 × Delay to its round-trip time.
	Delay time.Duration
	// Jitter adds a random extra delay in [0, Jitter) to each write, but
	// never reorders bytes: a write is never delivered before an earlier
	// one.
	Jitter time.Duration
	// Seed seeds the jitter.
	Seed uint64
	// Spin is how long before each delivery the link stops sleeping and
	// polls the clock: timers on many systems fire up to a millisecond
	// late, which would add to short delays. 0 means 1.5 ms; a negative
	// value disables polling (then delays are only as exact as timers).
	Spin time.Duration
}

// Wrap returns a connection that sends and receives through c with the
// delays of l. Close closes c at once; data still in flight is dropped, as
// when a link goes down.
func Wrap(c net.Conn, l Link) net.Conn {
	if l.Spin == 0 {
		l.Spin = 1500 * time.Microsecond
	}
	d := &conn{Conn: c, link: l, in: make(chan chunk, 1024), out: make(chan chunk, 1024),
		closed: make(chan struct{}), rng: rand.New(rand.NewPCG(l.Seed, 1))}
	d.wg.Add(2)
	go d.receive()
	go d.send()
	return d
}

type chunk struct {
	b   []byte
	at  time.Time
	err error
}

type conn struct {
	net.Conn
	link   Link
	in     chan chunk // received from c, readable once due
	out    chan chunk // written, sent to c once due
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	rmu  sync.Mutex
	rbuf []byte    // data of the chunk being read
	rat  time.Time // when rbuf's chunk arrives
	rerr error

	wmu     sync.Mutex
	werr    error
	rng     *rand.Rand
	lastIn  time.Time // guarded by the receive goroutine
	lastOut time.Time // guarded by wmu
}

// due returns when data sent now arrives, after last.
func (c *conn) due(last time.Time, jitter func() time.Duration) time.Time {
	at := time.Now().Add(c.link.Delay + jitter())
	if at.Before(last) {
		at = last
	}
	return at
}

func (c *conn) jitterLocked() time.Duration {
	if c.link.Jitter <= 0 {
		return 0
	}
	return time.Duration(c.rng.Int64N(int64(c.link.Jitter)))
}

// wait returns at t, or false if the connection closed first.
func (c *conn) wait(t time.Time) bool {
	if d := time.Until(t) - max(c.link.Spin, 0); d > 0 {
		tm := time.NewTimer(d)
		select {
		case <-tm.C:
		case <-c.closed:
			tm.Stop()
			return false
		}
	}
	if c.link.Spin > 0 {
		for time.Now().Before(t) {
			select {
			case <-c.closed:
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
	var jmu sync.Mutex
	jitter := func() time.Duration { jmu.Lock(); defer jmu.Unlock(); return c.jitterLocked() }
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Conn.Read(buf)
		if n > 0 {
			c.lastIn = c.due(c.lastIn, jitter)
			select {
			case c.in <- chunk{b: append([]byte(nil), buf[:n]...), at: c.lastIn}:
			case <-c.closed:
				return
			}
		}
		if err != nil {
			select {
			case c.in <- chunk{err: err, at: c.due(c.lastIn, func() time.Duration { return 0 })}:
			case <-c.closed:
			}
			return
		}
	}
}

func (c *conn) send() {
	defer c.wg.Done()
	var batch []byte
	for {
		select {
		case ch := <-c.out:
			if !c.wait(ch.at) {
				return
			}
			// Send everything already due in one write, as a link
			// delivers back-to-back segments together.
			batch = append(batch[:0], ch.b...)
		more:
			for {
				select {
				case next := <-c.out:
					if next.at.After(time.Now()) {
						if _, err := c.Conn.Write(batch); err != nil {
							c.failWrite(err)
							return
						}
						if !c.wait(next.at) {
							return
						}
						batch = batch[:0]
					}
					batch = append(batch, next.b...)
				default:
					break more
				}
			}
			if _, err := c.Conn.Write(batch); err != nil {
				c.failWrite(err)
				return
			}
		case <-c.closed:
			return
		}
	}
}

func (c *conn) failWrite(err error) {
	c.wmu.Lock()
	c.werr = err
	c.wmu.Unlock()
	c.Conn.Close()
}

// Read reads data that has arrived: bytes the peer wrote at least Delay
// ago.
func (c *conn) Read(p []byte) (int, error) {
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
		c.rbuf, c.rat, c.rerr = ch.b, ch.at, ch.err
	}
	if !c.wait(c.rat) {
		return 0, net.ErrClosed
	}
	n := copy(p, c.rbuf)
	c.rbuf = c.rbuf[n:]
	// Fill the rest of p with data that has arrived already.
	for n < len(p) && len(c.rbuf) == 0 && c.rerr == nil {
		select {
		case ch, ok := <-c.in:
			if !ok {
				c.rerr = net.ErrClosed
				return n, nil
			}
			c.rbuf, c.rat, c.rerr = ch.b, ch.at, ch.err
			if ch.at.After(time.Now()) {
				return n, nil // not arrived yet: a later Read waits for it
			}
			m := copy(p[n:], c.rbuf)
			c.rbuf = c.rbuf[m:]
			n += m
		default:
			return n, nil
		}
	}
	return n, nil
}

// Write queues p for delivery Delay from now and returns at once (it
// blocks only when a great many writes are in flight).
func (c *conn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	c.wmu.Lock()
	if err := c.werr; err != nil {
		c.wmu.Unlock()
		return 0, err
	}
	c.lastOut = c.due(c.lastOut, c.jitterLocked)
	ch := chunk{b: append([]byte(nil), p...), at: c.lastOut}
	defer c.wmu.Unlock() // queue in the order of the due times
	select {
	case c.out <- ch:
		return len(p), nil
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

// Close closes the underlying connection, drops data in flight and waits
// for the link's goroutines to stop.
func (c *conn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		close(c.closed)
		err = c.Conn.Close()
		c.wg.Wait()
	})
	return err
}
