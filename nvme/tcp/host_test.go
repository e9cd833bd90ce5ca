package tcp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/internal/peertest"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeController accepts one connection, answers ICReq with icresp, reads
// one command capsule (72 bytes, no digests, no data), then sends raw
// bytes. With hangup it then closes the connection; otherwise it reads
// until the host closes and reports the first PDU type it read on term
// (-1 if none).
func fakeController(t *testing.T, icresp, then []byte, hangup bool) (addr string, term <-chan int) {
	got := make(chan int, 1)
	addr = peertest.ServeOne(t, func(c net.Conn) {
		if _, err := io.ReadFull(c, make([]byte, 128)); err != nil {
			return
		}
		c.Write(icresp)
		if _, err := io.ReadFull(c, make([]byte, tcp.CapsuleCmdLen)); err != nil {
			return
		}
		c.Write(then)
		if hangup {
			return
		}
		b, _ := io.ReadAll(c) // until the host closes
		if len(b) == 0 {
			got <- -1
			return
		}
		got <- int(b[0])
	})
	return addr, got
}

func icresp(digests uint8, maxh2c uint32) []byte {
	b := make([]byte, 128)
	b[0], b[2] = byte(tcp.TypeICResp), 128
	binary.LittleEndian.PutUint32(b[4:], 128)
	b[11] = digests
	binary.LittleEndian.PutUint32(b[12:], maxh2c)
	return b
}

// A controller that breaks the protocol, lies about lengths, stops
// mid-PDU or vanishes fails the outstanding command with a typed error,
// and the host sends H2CTermReq for protocol errors.
func TestBadControllers(t *testing.T) {
	var d tcp.Digests
	c2h := func(h tcp.DataHeader, n int) []byte {
		return d.AppendData(nil, tcp.TypeC2HData, tcp.FlagDataLast, h, make([]byte, n))
	}
	tests := []struct {
		name   string
		icresp []byte
		then   []byte
		hangup bool
		fes    tcp.FES // 0: not a protocol error
		remote bool
	}{
		{"DigestMismatch", icresp(tcp.DigestHeader, 8192), nil, false, tcp.FESUnsupportedParams, false},
		{"SmallMaxH2C", icresp(0, 1024), nil, false, tcp.FESUnsupportedParams, false},
		{"WrongHLen", icresp(0, 8192), []byte{0x05, 0, 99, 0, 24, 0, 0, 0}, false, tcp.FESInvalidHeader, false},
		{"HugePLen", icresp(0, 8192), []byte{0x07, 0, 24, 24, 0xff, 0xff, 0xff, 0x7f}, false, tcp.FESInvalidHeader, false},
		{"UnknownType", icresp(0, 8192), []byte{0x08, 0, 24, 0, 24, 0, 0, 0}, false, tcp.FESInvalidHeader, false},
		{"Garbage", icresp(0, 8192), bytes.Repeat([]byte{0xff}, 64), false, tcp.FESInvalidHeader, false},
		{"UnknownCID", icresp(0, 8192), d.AppendCapsuleResp(nil, &nvme.Completion{CID: 9}), false, tcp.FESInvalidHeader, false},
		{"IdleCID", icresp(0, 8192), append(d.AppendCapsuleResp(nil, &nvme.Completion{}), d.AppendCapsuleResp(nil, &nvme.Completion{})...), false, tcp.FESSequence, false},
		{"DataOutOfRange", icresp(0, 8192), c2h(tcp.DataHeader{Offset: 4000}, 200), false, tcp.FESDataRange, false},
		{"DataLengthLie", icresp(0, 8192), c2h(tcp.DataHeader{}, 200)[:24:24], false, 0, false}, // then hangs up mid-data
		{"PeerTermReq", icresp(0, 8192), tcp.AppendTermReq(nil, tcp.TypeC2HTermReq, tcp.FESDataLimit, 16, nil), false, tcp.FESDataLimit, true},
		{"StopsMidPDU", icresp(0, 8192), d.AppendCapsuleResp(nil, &nvme.Completion{})[:10], true, 0, false},
		{"Vanishes", icresp(0, 8192), nil, true, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hangup := tt.hangup || tt.name == "DataLengthLie"
			addr, term := fakeController(t, tt.icresp, tt.then, hangup)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			q, err := tcp.NewHostQueue(context.Background(), conn, tcp.HostConfig{Depth: 1})
			if err == nil {
				cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
				_, err = q.Do(context.Background(), &cmd, make([]byte, 4096))
				if err != nil && tt.name == "IdleCID" {
					err = nil // the first completion was fine
				}
				if err == nil {
					<-q.Done()
					err = q.Err()
				}
				q.Close()
			}
			var te *tcp.TermError
			if tt.fes == 0 {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("error %v, want one wrapping io.ErrUnexpectedEOF", err)
				}
				return
			}
			if !errors.As(err, &te) || te.FES != tt.fes || te.Remote != tt.remote {
				t.Fatalf("error %v, want a TermError with FES %v (remote %v)", err, tt.fes, tt.remote)
			}
			if !tt.remote && tt.then != nil {
				if typ := <-term; typ != int(tcp.TypeH2CTermReq) {
					t.Fatalf("controller read PDU type %d, want H2CTermReq", typ)
				}
			}
		})
	}
}

// StartFunc calls done once a command's result is in, so that Wait
// returns at once: for an answer, a timeout, and a command that could not
// be sent; never for a command whose Wait gave up on its context first,
// even once the answer comes.
func TestStartFunc(t *testing.T) {
	tests := []struct {
		name     string
		nsid     uint32
		timeout  time.Duration
		cancel   bool // Wait before the answer, with a cancelled context
		unsent   bool // Start with a cancelled context on a full queue
		wantDone bool
		wantErr  error
	}{
		{name: "answered", nsid: 7, wantDone: true},
		{name: "timed out", nsid: hangNSID, timeout: 20 * time.Millisecond, wantDone: true, wantErr: tcp.ErrTimeout},
		{name: "not sent", nsid: 7, unsent: true, wantDone: true, wantErr: context.Canceled},
		{name: "abandoned", nsid: hangNSID, cancel: true, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler()
			q, _ := pair(t, tcp.TargetConfig{}, tcp.HostConfig{Depth: 2, Timeout: tt.timeout}, h, nil)
			var held []tcp.Call
			defer func() {
				close(h.release)
				for _, c := range held {
					c.Wait(context.Background())
				}
			}()
			ctx, cancel := context.WithCancel(context.Background())
			if tt.unsent {
				// Fill the queue with held commands, then start on a
				// cancelled context: the command cannot get an identifier.
				for range 2 {
					cmd := nvme.IdentifyCommand(nvme.CNSNamespace, hangNSID)
					held = append(held, q.Start(context.Background(), &cmd, make([]byte, nvme.IdentifySize)))
				}
				cancel()
			}
			done := make(chan struct{}, 2) // room for a wrong second call
			buf := make([]byte, nvme.IdentifySize)
			cmd := nvme.IdentifyCommand(nvme.CNSNamespace, tt.nsid)
			call := q.StartFunc(ctx, &cmd, buf, func() { done <- struct{}{} })
			if tt.cancel {
				cancel()
				if _, err := call.Wait(ctx); !errors.Is(err, tt.wantErr) {
					t.Fatalf("Wait = %v, want %v", err, tt.wantErr)
				}
				h.release <- struct{}{} // the held command is answered now
				if err := identify(q, context.Background(), 7, buf); err != nil {
					t.Fatal(err) // the answer to the abandoned command came before this one
				}
				select {
				case <-done:
					t.Fatal("done called for a command whose Wait gave up")
				default:
				}
				return
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("done not called")
			}
			if _, err := call.Wait(context.Background()); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Wait = %v, want %v", err, tt.wantErr)
			}
			select {
			case <-done:
				t.Fatal("done called twice")
			default:
			}
			cancel()
		})
	}
}
