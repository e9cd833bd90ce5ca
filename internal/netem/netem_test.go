package netem

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipe returns a link-delayed end and the plain other end of a net.Pipe.
func pipe(l Link) (delayed, plain net.Conn) {
	a, b := net.Pipe()
	return Wrap(a, l), b
}

// Bytes written on either side arrive Delay later, never sooner.
func TestDelayEachDirection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, p := pipe(Link{Delay: 10 * time.Millisecond, Spin: -1})
		defer d.Close()
		defer p.Close()
		start := time.Now()
		go d.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(p, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("read %q, %v", buf, err)
		}
		if got := time.Since(start); got != 10*time.Millisecond {
			t.Fatalf("outbound delay %v, want 10ms", got)
		}
		start = time.Now()
		go p.Write([]byte("pong"))
		if _, err := io.ReadFull(d, buf); err != nil || string(buf) != "pong" {
			t.Fatalf("read %q, %v", buf, err)
		}
		if got := time.Since(start); got != 10*time.Millisecond {
			t.Fatalf("inbound delay %v, want 10ms", got)
		}
	})
}

// Many writes in flight take one delay in all, not one each.
func TestNotSerialised(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, p := pipe(Link{Delay: 15 * time.Millisecond, Spin: -1})
		defer d.Close()
		defer p.Close()
		start := time.Now()
		var want bytes.Buffer
		for i := range 100 {
			msg := bytes.Repeat([]byte{byte(i)}, 100)
			want.Write(msg)
			if _, err := d.Write(msg); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Microsecond)
		}
		got := make([]byte, want.Len())
		if _, err := io.ReadFull(p, got); err != nil || !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("data differ or %v", err)
		}
		if el := time.Since(start); el > 15*time.Millisecond+time.Millisecond+100*10*time.Microsecond {
			t.Fatalf("100 writes took %v, want about one delay (15ms)", el)
		}
	})
}

// With jitter, bytes keep their order.
func TestJitterKeepsOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, p := pipe(Link{Delay: time.Millisecond, Jitter: 5 * time.Millisecond, Seed: 3, Spin: -1})
		defer d.Close()
		defer p.Close()
		var want []byte
		for i := range 200 {
			want = append(want, byte(i))
			d.Write([]byte{byte(i)})
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(p, got); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("reordered: %v, %v", got[:10], err)
		}
	})
}

// Close delivers what was written, at its due time, then the peer sees
// EOF; Read and Write on the closed end fail with net.ErrClosed.
func TestCloseDeliversWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, p := pipe(Link{Delay: time.Second, Spin: -1})
		defer p.Close()
		start := time.Now()
		got := make(chan string)
		go func() {
			b, err := io.ReadAll(p)
			if err != nil {
				t.Error(err)
			}
			if el := time.Since(start); el != time.Second {
				t.Errorf("data and EOF arrived after %v, want 1s", el)
			}
			got <- string(b)
		}()
		d.Write([]byte("last "))
		d.Write([]byte("words"))
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if s := <-got; s != "last words" {
			t.Fatalf("peer read %q, want %q", s, "last words")
		}
		if _, err := d.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close = %v, want net.ErrClosed", err)
		}
		if _, err := d.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close = %v, want net.ErrClosed", err)
		}
		if err := d.Close(); err == nil {
			t.Fatal("second Close succeeded")
		}
	})
}

// A peer that never reads holds Close one second past the last due time,
// no longer.
func TestCloseUnreadPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, p := pipe(Link{Delay: 10 * time.Millisecond, Spin: -1})
		defer p.Close()
		start := time.Now()
		d.Write([]byte("never read"))
		d.Close()
		if el := time.Since(start); el != 10*time.Millisecond+time.Second {
			t.Fatalf("Close took %v, want 1.01s", el)
		}
	})
}

// A Read blocked when Close is called returns net.ErrClosed.
func TestCloseWakesRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, p := pipe(Link{Delay: time.Millisecond, Spin: -1})
		defer p.Close()
		errc := make(chan error)
		go func() {
			_, err := d.Read(make([]byte, 1))
			errc <- err
		}()
		synctest.Wait()
		d.Close()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read = %v, want net.ErrClosed", err)
		}
	})
}

// The peer's data, then its EOF, arrive Delay after they were sent.
func TestPeerCloseEOF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, p := pipe(Link{Delay: 5 * time.Millisecond, Spin: -1})
		defer d.Close()
		start := time.Now()
		go func() {
			p.Write([]byte("bye"))
			p.Close()
		}()
		b, err := io.ReadAll(d)
		if err != nil || string(b) != "bye" {
			t.Fatalf("ReadAll = %q, %v", b, err)
		}
		if el := time.Since(start); el != 5*time.Millisecond {
			t.Fatalf("EOF after %v, want 5ms", el)
		}
	})
}

// Deadlines are the wrapper's own: a timed-out Read leaves the connection
// usable, and data in flight is still delivered at its time.
func TestReadDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, p := pipe(Link{Delay: 10 * time.Millisecond, Spin: -1})
		defer d.Close()
		defer p.Close()
		start := time.Now()
		go p.Write([]byte("late"))
		d.SetReadDeadline(start.Add(4 * time.Millisecond))
		buf := make([]byte, 4)
		_, err := d.Read(buf)
		var ne net.Error
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Read = %v, want a timeout", err)
		}
		if el := time.Since(start); el != 4*time.Millisecond {
			t.Fatalf("timed out after %v, want 4ms", el)
		}
		if _, err := d.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read past deadline = %v, want a timeout", err)
		}
		d.SetDeadline(time.Time{})
		if _, err := io.ReadFull(d, buf); err != nil || string(buf) != "late" {
			t.Fatalf("Read = %q, %v", buf, err)
		}
		if el := time.Since(start); el != 10*time.Millisecond {
			t.Fatalf("data after %v, want 10ms", el)
		}
	})
}

func TestWriteDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, p := pipe(Link{Delay: time.Millisecond, Spin: -1})
		defer p.Close()
		defer d.Close()
		d.SetWriteDeadline(time.Now().Add(-time.Second))
		if _, err := d.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write past deadline = %v, want a timeout", err)
		}
		d.SetWriteDeadline(time.Time{})
		if _, err := d.Write([]byte("y")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1)
		if _, err := io.ReadFull(p, buf); err != nil || buf[0] != 'y' {
			t.Fatalf("peer read %q, %v", buf, err)
		}
	})
}

// With jitter every write arrives within [Delay, Delay+Jitter) of being
// sent, or with the write before it, never earlier.
func TestJitterBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay, jitter = 10 * time.Millisecond, 4 * time.Millisecond
		d, p := pipe(Link{Delay: delay, Jitter: jitter, Seed: 7, Spin: -1})
		defer d.Close()
		defer p.Close()
		const n = 50
		sent := make([]time.Time, n)
		go func() {
			for i := range n {
				sent[i] = time.Now()
				d.Write([]byte{byte(i)})
				time.Sleep(time.Millisecond)
			}
		}()
		var prev time.Time
		spread := map[time.Duration]bool{}
		for i := range n {
			b := make([]byte, 1)
			if _, err := io.ReadFull(p, b); err != nil || b[0] != byte(i) {
				t.Fatalf("read %v, %v; want %d", b, err, i)
			}
			now := time.Now()
			lat := now.Sub(sent[i])
			if lat < delay || (lat >= delay+jitter && now != prev) {
				t.Fatalf("write %d arrived after %v, want [%v, %v) or with its predecessor", i, lat, delay, delay+jitter)
			}
			spread[lat] = true
			prev = now
		}
		if len(spread) < 3 {
			t.Fatalf("only %d distinct latencies: no jitter", len(spread))
		}
	})
}

// Writes racing Close neither panic nor leak, and all fail once Close
// has begun.
func TestWriteRacingClose(t *testing.T) {
	d, p := pipe(Link{Delay: time.Millisecond, Spin: -1})
	go io.Copy(io.Discard, p)
	busy, done := make(chan struct{}), make(chan error)
	for range 4 {
		go func() {
			for i := 0; ; i++ {
				if i == 100 {
					busy <- struct{}{}
				}
				if _, err := d.Write([]byte("spam")); err != nil {
					done <- err
					return
				}
			}
		}()
	}
	for range 4 {
		<-busy
	}
	d.Close()
	for range 4 {
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write = %v, want net.ErrClosed", err)
		}
	}
	p.Close()
}

// Over real TCP, with polling on, a round trip takes 2 × Delay, not a
// timer tick more.
func BenchmarkRoundTrip1ms(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c := Wrap(raw, Link{Delay: 500 * time.Microsecond})
	defer c.Close()
	buf := make([]byte, 64)
	for b.Loop() {
		c.Write(buf)
		io.ReadFull(c, buf)
	}
}

// Small writes, as PDUs are, through one direction of the link.
func BenchmarkSmallWrites(b *testing.B) {
	a, p := net.Pipe()
	c := Wrap(a, Link{Delay: 100 * time.Microsecond, Spin: -1})
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, p); close(done) }()
	msg := make([]byte, 72)
	b.ReportAllocs()
	for b.Loop() {
		c.Write(msg)
	}
	c.Close()
	p.Close()
	<-done
}

// Wrapping only the server's end with Delay = RTT/2 gives the client a
// round trip of RTT, and Q requests sent back to back all come back one
// RTT later, not Q RTTs.
func TestPipelinedRoundTrips(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rtt, q = 30 * time.Millisecond, 32
		server, client := pipe(Link{Delay: rtt / 2, Spin: -1})
		go io.Copy(server, server) // echo
		start := time.Now()
		go func() {
			for i := range q {
				client.Write([]byte{byte(i)})
			}
		}()
		got := make([]byte, q)
		if _, err := io.ReadFull(client, got); err != nil {
			t.Fatal(err)
		}
		for i, b := range got {
			if b != byte(i) {
				t.Fatalf("reply %d is %d", i, b)
			}
		}
		if el := time.Since(start); el != rtt {
			t.Fatalf("%d round trips took %v, want one RTT (%v)", q, el, rtt)
		}
		client.Close()
		server.Close()
	})
}

// A wait for a time already past returns at once, also for the zero time
// (a Read after the peer's close waits on it), where subtracting the spin
// from time.Until's saturated result once overflowed to centuries.
func TestWaitPast(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   time.Time
	}{
		{"zero time", time.Time{}},
		{"an hour ago", time.Now().Add(-time.Hour)},
		{"now", time.Now()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &conn{link: Link{Spin: 1500 * time.Microsecond}}
			done := make(chan bool)
			go func() { done <- c.wait(tc.at, nil, nil) }()
			select {
			case ok := <-done:
				if !ok {
					t.Fatal("wait reported a stop")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("wait for a past time did not return")
			}
		})
	}
}
