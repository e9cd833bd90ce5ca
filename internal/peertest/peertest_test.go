package peertest

import (
	"bufio"
	"io"
	"net"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dial connects to addr and sends a line, returning the line the peer
// answers, or "" if it closed the connection without one.
func dial(t *testing.T, addr, line string) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := bufio.NewReader(c).ReadString('\n')
	return c, got
}

// echo answers each line with itself until the connection ends.
func echo(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		s, err := r.ReadString('\n')
		if err != nil {
			return
		}
		io.WriteString(c, s)
	}
}

// Serve serves every connection at once, each until the end of the
// test: a serve still reading when the test ends returns.
func TestServe(t *testing.T) {
	addr := Serve(t, echo)
	for _, line := range []string{"one", "two", "three"} {
		c, got := dial(t, addr, line)
		defer c.Close()
		if got != line+"\n" {
			t.Errorf("answer %q, want %q", got, line)
		}
	}
}

// ServeOne serves the first connection only: the next one is accepted by
// the kernel and answered by no one. Both are closed at the end of the
// test, with the serve that was blocked reading.
func TestServeOne(t *testing.T) {
	served := make(chan int, 2)
	addr := ServeOne(t, func(c net.Conn) {
		served <- 1
		echo(c)
	})
	c, got := dial(t, addr, "one")
	defer c.Close()
	if got != "one\n" {
		t.Fatalf("answer %q", got)
	}
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if _, err := io.WriteString(second, "two\n"); err != nil {
		t.Fatal(err)
	}
	c.Close() // the first serve returns; still the second is not served
	if got, _ := bufio.NewReader(c).ReadString('\n'); got != "" {
		t.Fatalf("closed connection read %q", got)
	}
	t.Cleanup(func() {
		if n := len(served); n != 1 {
			t.Errorf("%d connections served, want 1", n)
		}
	})
}
