package netem

import (
	"bytes"
	"io"
	"net"
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

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, p := pipe(Link{Delay: time.Second, Spin: -1})
		d.Write([]byte("lost"))
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Write([]byte("x")); err == nil {
			t.Fatal("Write after Close succeeded")
		}
		if _, err := d.Read(make([]byte, 1)); err == nil {
			t.Fatal("Read after Close succeeded")
		}
		if _, err := p.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("peer Read after Close = %v, want EOF", err)
		}
		p.Close()
	})
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
