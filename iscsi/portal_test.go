package iscsi

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/complchain/complchain/internal/peertest"
)

// A portal that is not an iSCSI target — an HTTP server answering 400, a server that
// closes each connection at once, one that answers garbage — fails the
// login with an error wrapping ErrNotISCSI, within the context's time.
func TestNotISCSIPortal(t *testing.T) {
	tests := []struct {
		name  string
		serve func(c net.Conn)
	}{
		{"HTTP server", func(c net.Conn) {
			io.ReadFull(c, make([]byte, BHSLen)) // a request line it cannot parse
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"))
			c.Close()
		}},
		{"closes at once", func(c net.Conn) { c.Close() }},
		{"garbage", func(c net.Conn) {
			c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n0123456789abcdef0123456789"))
			c.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := peertest.ServeOne(t, tt.serve)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			_, err := Dial(ctx, addr, Config{})
			if !errors.Is(err, ErrNotISCSI) {
				t.Fatalf("Dial: %v, want ErrNotISCSI", err)
			}
		})
	}
}
