package control

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"

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
	} else if !closedUnanswered(err) {
		t.Fatalf("connection %d: %v, want the connection closed", MaxConns+1, err)
	}
	// A Client's call on a connection of its own says why it failed.
	for _, call := range []struct {
		name string
		do   func() error
	}{
		{"GET", func() error { _, err := f.c.Ports(context.Background()); return err }},
		{"POST", func() error {
			_, err := f.c.AllowHost(context.Background(), subNQN, "nqn.2026-01.io.example:h")
			return err
		}},
	} {
		if err := call.do(); !errors.Is(err, ErrNoAnswer) {
			t.Errorf("a Client's %s beyond %d connections: %v, want an error wrapping ErrNoAnswer", call.name, MaxConns, err)
		}
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
