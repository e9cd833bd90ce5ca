package fabric

import (
	"io"
	"net"
	"testing"

	"github.com/complchain/complchain/internal/peertest"
)

// refusedAddr returns an address on 127.0.0.1 where nothing listens.
func refusedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// hangListener returns the address of a listener that accepts
// connections and never answers.
func hangListener(t *testing.T) string {
	return peertest.Serve(t, func(c net.Conn) { io.Copy(io.Discard, c) })
}
