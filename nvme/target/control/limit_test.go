package control

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
)

// TestMaxConns opens MaxConns connections to the control socket and
// one more: the extra one is closed unanswered, the others are served,
// and a place given back by a closed connection is taken again.
func TestMaxConns(t *testing.T) {
	f := start(t)
	dial := func() net.Conn {
		c, err := net.Dial("unix", f.path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// get sends GET /v1/ports on c and reads the answer.
	get := func(c net.Conn, close bool) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://control/v1/ports", nil)
		req.Close = close
		if err := req.Write(c); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	conns := make([]net.Conn, MaxConns)
	for i := range conns {
		conns[i] = dial()
		if resp, err := get(conns[i], false); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d: %v %v", i, resp, err)
		}
	}
	if resp, err := get(dial(), false); err == nil {
		t.Fatalf("connection %d of at most %d answered %s", MaxConns+1, MaxConns, resp.Status)
	} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
		t.Fatalf("connection %d: %v, want the connection closed", MaxConns+1, err)
	}
	// The first connection asks to be closed: once it is, its place is free.
	if resp, err := get(conns[0], true); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("last request of connection 0: %v %v", resp, err)
	}
	if n, err := conns[0].Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("connection 0 after Connection: close: %d bytes, %v", n, err)
	}
	if resp, err := get(dial(), false); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a connection in the place given back: %v %v", resp, err)
	}
	for _, c := range conns[1:] {
		if resp, err := get(c, false); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("a connection kept open: %v %v", resp, err)
		}
	}
}

// isReset reports whether err is a connection reset or a broken pipe:
// the peer closed the connection before reading what was sent.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
