// Package peertest runs the far side of a connection for tests: a peer
// on 127.0.0.1 that a test scripts (a controller, a target, a portal
// that answers wrongly or not at all), served over a real socket. It is
// imported by _test files only.
package peertest

import (
	"net"
	"sync"
	"testing"
)

// ServeOne listens on 127.0.0.1, port 0, and calls serve in a goroutine
// with the first connection it accepts, closing the connection when
// serve returns; later connections wait in the backlog, unanswered. It
// returns the address to dial. At the end of the test it closes the
// listener and that connection (a serve blocked reading it returns) and
// waits for serve to return.
func ServeOne(t testing.TB, serve func(c net.Conn)) (addr string) {
	return listen(t, serve, 1)
}

// Serve is ServeOne for every connection: each is served in a goroutine
// of its own, and at the end of the test every connection still open is
// closed and every serve waited for.
func Serve(t testing.TB, serve func(c net.Conn)) (addr string) {
	return listen(t, serve, -1)
}

// listen serves up to n connections (every one if n < 0).
func listen(t testing.TB, serve func(net.Conn), n int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for i := 0; n < 0 || i < n; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				serve(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
