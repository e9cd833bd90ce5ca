package tcp_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeController accepts one connection and answers ICReq with resp, then
// sends raw bytes.
func fakeController(t *testing.T, icresp []byte, then []byte) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 128)
		if _, err := c.Read(buf); err != nil {
			return
		}
		c.Write(icresp)
		c.Write(then)
		c.Read(make([]byte, 4096)) // until the host closes
	}()
	return ln.Addr().String()
}

func icresp(digests uint8, maxh2c uint32) []byte {
	b := make([]byte, 128)
	b[0], b[2] = byte(tcp.TypeICResp), 128
	binary.LittleEndian.PutUint32(b[4:], 128)
	b[11] = digests
	binary.LittleEndian.PutUint32(b[12:], maxh2c)
	return b
}

func TestBadControllers(t *testing.T) {
	garbageHeader := []byte{0x05, 0, 99, 0, 24, 0, 0, 0}
	hugePLen := []byte{0x07, 0, 24, 24, 0xff, 0xff, 0xff, 0x7f}
	tests := []struct {
		name   string
		icresp []byte
		then   []byte
		fes    tcp.FES
	}{
		{"DigestMismatch", icresp(tcp.DigestHeader, 8192), nil, tcp.FESUnsupportedParams},
		{"SmallMaxH2C", icresp(0, 1024), nil, tcp.FESUnsupportedParams},
		{"WrongHLen", icresp(0, 8192), garbageHeader, tcp.FESInvalidHeader},
		{"HugePLen", icresp(0, 8192), hugePLen, tcp.FESInvalidHeader},
		{"UnknownType", icresp(0, 8192), []byte{0x08, 0, 24, 0, 24, 0, 0, 0}, tcp.FESInvalidHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeController(t, tt.icresp, tt.then)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			q, err := tcp.NewHostQueue(context.Background(), conn, tcp.HostConfig{})
			if err == nil {
				cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
				_, err = q.Do(context.Background(), &cmd, make([]byte, 4096))
				q.Close()
			}
			var te *tcp.TermError
			if !errors.As(err, &te) || te.FES != tt.fes {
				t.Fatalf("error %v, want a TermError with FES %v", err, tt.fes)
			}
		})
	}
}
