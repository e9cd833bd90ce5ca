package tcp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/complchain/complchain/internal/memtest"
	"github.com/complchain/complchain/internal/peertest"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// A scripted controller speaks raw PDUs to one host over loopback TCP:
// it answers ICReq with the digests asked for, then runs a script that
// reads the host's PDUs and writes whatever bytes it likes.
type scripted struct {
	conn net.Conn
	r    *tcp.Reader
	dg   tcp.Digests
}

// capsule reads PDUs until the next command capsule and returns its
// command.
func (s *scripted) capsule() (nvme.Command, error) {
	for {
		p, err := s.r.Next()
		if err != nil {
			return nvme.Command{}, err
		}
		if p.Type == tcp.TypeCapsuleCmd {
			var c nvme.Command
			c.UnmarshalBinary(p.Specific)
			return c, nil
		}
	}
}

// h2cData reads PDUs until an H2CData PDU and returns its header and
// how much data it carried.
func (s *scripted) h2cData() (tcp.DataHeader, int, error) {
	for {
		p, err := s.r.Next()
		if err != nil {
			return tcp.DataHeader{}, 0, err
		}
		if p.Type == tcp.TypeH2CData {
			return tcp.ParseDataHeader(p), len(p.Data), nil
		}
	}
}

func (s *scripted) send(b ...[]byte) error {
	_, err := s.conn.Write(bytes.Join(b, nil))
	return err
}

func (s *scripted) resp(cid uint16, st nvme.Status) []byte {
	return s.dg.AppendCapsuleResp(nil, &nvme.Completion{CID: cid, Status: st})
}

func (s *scripted) data(cid uint16, off uint32, data []byte, flags uint8) []byte {
	return s.dg.AppendData(nil, tcp.TypeC2HData, flags, tcp.DataHeader{CID: cid, Offset: off}, data)
}

// corrupt flips a bit in the data digest of the data PDU b (the last four
// bytes).
func corrupt(b []byte) []byte {
	b[len(b)-1] ^= 0x80
	return b
}

// startScripted listens on 127.0.0.1:0 and runs script against the first
// host that connects. When the script returns, the controller reads on
// until the host closes, and reports on the returned channel the type of
// the first TermReq the host sent (-1 if none). The script's error, if
// any, fails the test.
func startScripted(t *testing.T, script func(s *scripted) error) (addr string, term <-chan int) {
	t.Helper()
	got := make(chan int, 1)
	var serr error
	t.Cleanup(func() { // after the controller's end (cleanups run last first)
		if serr != nil {
			t.Errorf("scripted controller: %v", serr)
		}
	})
	addr = peertest.ServeOne(t, func(c net.Conn) {
		s := &scripted{conn: c, r: tcp.NewReader(c, 1<<20)}
		p, err := s.r.Next()
		if err != nil {
			got <- -1 // the host gave up first
			return
		}
		ic, err := tcp.ParseICReq(p)
		if err != nil {
			serr = err
			return
		}
		s.dg = tcp.Digests{Header: ic.Digests&tcp.DigestHeader != 0, Data: ic.Digests&tcp.DigestData != 0}
		c.Write(tcp.AppendICResp(nil, tcp.ICResp{Digests: ic.Digests, MaxH2CData: 8192}))
		s.r.SetDigests(s.dg.Header, s.dg.Data)
		if err := script(s); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			serr = err
		}
		for {
			p, err := s.r.Next()
			if err != nil && !errors.Is(err, tcp.ErrDataDigest) {
				got <- -1
				return
			}
			if p.Type == tcp.TypeH2CTermReq {
				got <- int(p.Type)
				io.Copy(io.Discard, c)
				return
			}
		}
	})
	return addr, got
}

// hostileQueue connects a host queue to the scripted controller at addr
// and closes it at the end of the test.
func hostileQueue(t *testing.T, addr string, cfg tcp.HostConfig) *tcp.HostQueue {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	q, err := tcp.NewHostQueue(context.Background(), conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// commandCtx bounds a command of a hostile test: no controller may make
// the host wait past it.
func commandCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func readCmd(nsid uint32) nvme.Command { return nvme.IdentifyCommand(nvme.CNSNamespace, nsid) }

// A data digest error fails the one command whose data it carried, with
// Transient Transport Error; it is never a header digest error, the queue
// goes on and the other commands in flight succeed.
func TestHostDataDigestError(t *testing.T) {
	good := bytes.Repeat([]byte{0x5a}, 4096)
	tests := []struct {
		name string
		// answer sends the answers to the commands with CIDs a (the
		// victim) and b.
		answer func(s *scripted, a, b uint16) error
	}{
		{"ThenCapsuleResp", func(s *scripted, a, b uint16) error {
			return s.send(corrupt(s.data(a, 0, good, tcp.FlagDataLast)), s.resp(a, 0), s.data(b, 0, good, tcp.FlagDataLast), s.resp(b, 0))
		}},
		{"WithDataSuccess", func(s *scripted, a, b uint16) error {
			return s.send(corrupt(s.data(a, 0, good, tcp.FlagDataLast|tcp.FlagDataSuccess)), s.data(b, 0, good, tcp.FlagDataLast|tcp.FlagDataSuccess))
		}},
		{"FirstOfTwoPDUs", func(s *scripted, a, b uint16) error {
			return s.send(corrupt(s.data(a, 0, good[:1024], 0)), s.data(a, 1024, good[1024:], tcp.FlagDataLast), s.resp(a, 0),
				s.data(b, 0, good, tcp.FlagDataLast), s.resp(b, 0))
		}},
		{"LastOfTwoPDUs", func(s *scripted, a, b uint16) error {
			return s.send(s.data(a, 0, good[:1024], 0), corrupt(s.data(a, 1024, good[1024:], tcp.FlagDataLast)), s.resp(a, 0),
				s.data(b, 0, good, tcp.FlagDataLast), s.resp(b, 0))
		}},
		{"ControllerStatusToo", func(s *scripted, a, b uint16) error {
			return s.send(corrupt(s.data(a, 0, good, tcp.FlagDataLast)), s.resp(a, nvme.StatusInvalidNamespace|nvme.StatusDNR), s.data(b, 0, good, tcp.FlagDataLast), s.resp(b, 0))
		}},
		{"Interleaved", func(s *scripted, a, b uint16) error {
			return s.send(s.data(b, 0, good[:2048], 0), corrupt(s.data(a, 0, good, tcp.FlagDataLast)), s.data(b, 2048, good[2048:], tcp.FlagDataLast), s.resp(b, 0), s.resp(a, 0))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memtest.Bounded(t, 4<<20)
			addr, term := startScripted(t, func(s *scripted) error {
				a, err := s.capsule()
				if err != nil {
					return err
				}
				b, err := s.capsule()
				if err != nil {
					return err
				}
				if err := tt.answer(s, a.CID, b.CID); err != nil {
					return err
				}
				c, err := s.capsule() // the queue still runs
				if err != nil {
					return err
				}
				return s.send(s.data(c.CID, 0, good, tcp.FlagDataLast), s.resp(c.CID, 0))
			})
			q := hostileQueue(t, addr, tcp.HostConfig{HeaderDigest: true, DataDigest: true})
			ctx := commandCtx(t)
			abuf, bbuf := make([]byte, 4096), make([]byte, 4096)
			ca, cb := readCmd(1), readCmd(2)
			acall := q.Start(ctx, &ca, abuf)
			bcall := q.Start(ctx, &cb, bbuf)
			_, aerr := acall.Wait(ctx)
			_, berr := bcall.Wait(ctx)
			var st nvme.Status
			var te *tcp.TermError
			if !errors.Is(aerr, tcp.ErrDataDigest) || !errors.As(aerr, &st) || st.Code() != nvme.StatusTransientTransport || errors.As(aerr, &te) {
				t.Fatalf("command with a bad data digest: %v; want ErrDataDigest with Transient Transport Error, no TermError", aerr)
			}
			if berr != nil || !bytes.Equal(bbuf, good) {
				t.Fatalf("the other command: %v", berr)
			}
			cbuf := make([]byte, 4096)
			cc := readCmd(3)
			if _, err := q.Do(ctx, &cc, cbuf); err != nil || !bytes.Equal(cbuf, good) {
				t.Fatalf("command after the digest error: %v", err)
			}
			if err := q.Err(); err != nil {
				t.Fatalf("queue stopped: %v", err)
			}
			q.Close()
			if typ := <-term; typ != -1 {
				t.Fatalf("host sent PDU type %d, want no TermReq", typ)
			}
		})
	}
}

// A controller that reports success after less data than the command
// moves fails that command with ErrShortTransfer, and the buffer holds no
// stale bytes; the queue goes on.
func TestHostShortTransfer(t *testing.T) {
	full := bytes.Repeat([]byte{0x11}, 4096)
	tests := []struct {
		name  string
		write bool // a 16 KiB write through R2T; otherwise a 4 KiB read
		// answer answers the command; s.capsule() then answers one read.
		answer func(s *scripted, c nvme.Command) error
		got    int // bytes of a read the controller sent
	}{
		{"NoData", false, func(s *scripted, c nvme.Command) error { return s.send(s.resp(c.CID, 0)) }, 0},
		{"HalfThenResp", false, func(s *scripted, c nvme.Command) error {
			return s.send(s.data(c.CID, 0, full[:2048], tcp.FlagDataLast), s.resp(c.CID, 0))
		}, 2048},
		{"HalfWithDataSuccess", false, func(s *scripted, c nvme.Command) error {
			return s.send(s.data(c.CID, 0, full[:1000], tcp.FlagDataLast|tcp.FlagDataSuccess))
		}, 1000},
		{"AllButOneByte", false, func(s *scripted, c nvme.Command) error {
			return s.send(s.data(c.CID, 0, full[:1024], 0), s.data(c.CID, 1024, full[1024:4095], tcp.FlagDataLast), s.resp(c.CID, 0))
		}, 4095},
		{"WriteNoR2T", true, func(s *scripted, c nvme.Command) error { return s.send(s.resp(c.CID, 0)) }, 0},
		{"WriteHalfR2T", true, func(s *scripted, c nvme.Command) error {
			if err := s.send(s.dg.AppendData(nil, tcp.TypeR2T, 0, tcp.DataHeader{CID: c.CID, TTag: 1, Length: 8192}, nil)); err != nil {
				return err
			}
			if _, _, err := s.h2cData(); err != nil {
				return err
			}
			return s.send(s.resp(c.CID, 0))
		}, 0},
		{"WriteGapR2T", true, func(s *scripted, c nvme.Command) error {
			if err := s.send(s.dg.AppendData(nil, tcp.TypeR2T, 0, tcp.DataHeader{CID: c.CID, TTag: 1, Offset: 8192, Length: 8192}, nil)); err != nil {
				return err
			}
			if _, _, err := s.h2cData(); err != nil {
				return err
			}
			return s.send(s.resp(c.CID, 0))
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memtest.Bounded(t, 4<<20)
			addr, term := startScripted(t, func(s *scripted) error {
				c, err := s.capsule()
				if err != nil {
					return err
				}
				if err := tt.answer(s, c); err != nil {
					return err
				}
				if c, err = s.capsule(); err != nil {
					return err
				}
				return s.send(s.data(c.CID, 0, full, tcp.FlagDataLast), s.resp(c.CID, 0))
			})
			q := hostileQueue(t, addr, tcp.HostConfig{})
			ctx := commandCtx(t)
			var err error
			if tt.write {
				w := nvme.Command{Opcode: nvme.OpWrite, NSID: 1}
				_, err = q.Do(ctx, &w, make([]byte, 16384))
			} else {
				buf := bytes.Repeat([]byte{0xee}, 4096) // a reused buffer's old bytes
				cmd := readCmd(1)
				_, err = q.Do(ctx, &cmd, buf)
				if !bytes.Equal(buf[:tt.got], full[:tt.got]) || !bytes.Equal(buf[tt.got:], make([]byte, 4096-tt.got)) {
					t.Errorf("buffer after a short read: %x...", buf[tt.got:min(tt.got+16, 4096)])
				}
			}
			if !errors.Is(err, tcp.ErrShortTransfer) {
				t.Fatalf("short transfer: %v, want ErrShortTransfer", err)
			}
			buf := make([]byte, 4096)
			cmd := readCmd(2)
			if _, err := q.Do(ctx, &cmd, buf); err != nil || !bytes.Equal(buf, full) {
				t.Fatalf("command after the short transfer: %v", err)
			}
			q.Close()
			if typ := <-term; typ != -1 {
				t.Fatalf("host sent PDU type %d, want no TermReq", typ)
			}
		})
	}
}

// R2Ts that are empty, reach past the data or go back over data already
// asked for are protocol errors: the host answers with an H2CTermReq
// (data transfer out of range) and the queue stops.
func TestHostBadR2T(t *testing.T) {
	r2t := func(s *scripted, cid uint16, off, n uint32) []byte {
		return s.dg.AppendData(nil, tcp.TypeR2T, 0, tcp.DataHeader{CID: cid, TTag: 1, Offset: off, Length: n}, nil)
	}
	tests := []struct {
		name string
		r2ts func(s *scripted, cid uint16) [][]byte
	}{
		{"Empty", func(s *scripted, cid uint16) [][]byte { return [][]byte{r2t(s, cid, 0, 0)} }},
		{"PastTheData", func(s *scripted, cid uint16) [][]byte { return [][]byte{r2t(s, cid, 8192, 8193)} }},
		{"OffsetWraps", func(s *scripted, cid uint16) [][]byte { return [][]byte{r2t(s, cid, 0xffff_f000, 0x2000)} }},
		{"Again", func(s *scripted, cid uint16) [][]byte { return [][]byte{r2t(s, cid, 0, 16384), r2t(s, cid, 0, 16384)} }},
		{"Backwards", func(s *scripted, cid uint16) [][]byte {
			return [][]byte{r2t(s, cid, 8192, 4096), r2t(s, cid, 4096, 4096)}
		}},
		{"ForAnIdleCommand", func(s *scripted, cid uint16) [][]byte { return [][]byte{r2t(s, cid+1, 0, 4096)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memtest.Bounded(t, 4<<20)
			addr, term := startScripted(t, func(s *scripted) error {
				c, err := s.capsule()
				if err != nil {
					return err
				}
				return s.send(tt.r2ts(s, c.CID)...)
			})
			q := hostileQueue(t, addr, tcp.HostConfig{Depth: 4})
			w := nvme.Command{Opcode: nvme.OpWrite, NSID: 1}
			_, err := q.Do(commandCtx(t), &w, make([]byte, 16384))
			var te *tcp.TermError
			if !errors.As(err, &te) || te.FES != tcp.FESDataRange || te.Remote {
				t.Fatalf("bad R2T: %v, want a TermError for data transfer out of range", err)
			}
			if typ := <-term; typ != int(tcp.TypeH2CTermReq) {
				t.Fatalf("host sent PDU type %d, want H2CTermReq", typ)
			}
		})
	}
}

// racyConn makes the worst case of a context that ends during the ICReq
// exchange happen every time: the context ends as ICResp arrives, and the
// AfterFunc that pushes the deadline into the past runs only once the
// host has reset the deadline for good (or closed the connection).
type racyConn struct {
	net.Conn
	cancel       context.CancelFunc
	started      chan struct{} // the AfterFunc began
	reset, close chan struct{}
	once         bool
}

func (c *racyConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.once {
		c.once = true
		c.cancel()
		<-c.started
	}
	return n, err
}

func (c *racyConn) SetDeadline(t time.Time) error {
	switch {
	case t.IsZero():
		close(c.reset)
	case t.Before(time.Now()):
		close(c.started)
		select {
		case <-c.reset:
		case <-c.close:
		}
	}
	return c.Conn.SetDeadline(t)
}

func (c *racyConn) Close() error {
	select {
	case <-c.close:
	default:
		close(c.close)
	}
	return c.Conn.Close()
}

// NewHostQueue fails when its context ends during the ICReq exchange,
// even if the exchange got through, instead of returning a queue whose
// connection deadline lies in the past.
func TestNewHostQueueContextDone(t *testing.T) {
	memtest.Bounded(t, 4<<20)
	addr, _ := startScripted(t, func(s *scripted) error { return nil })
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc := &racyConn{Conn: conn, cancel: cancel, started: make(chan struct{}), reset: make(chan struct{}), close: make(chan struct{})}
	q, err := tcp.NewHostQueue(ctx, rc, tcp.HostConfig{})
	if err == nil {
		q.Close()
		t.Fatal("NewHostQueue succeeded though its context ended during the exchange")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v, want one wrapping context.Canceled", err)
	}
}

// The reader returns a PDU with a bad data digest whole, with
// ErrDataDigest, and stays in step with the stream.
func TestReaderDataDigest(t *testing.T) {
	d := tcp.Digests{Header: true, Data: true}
	bad := corrupt(d.AppendData(nil, tcp.TypeC2HData, tcp.FlagDataLast, tcp.DataHeader{CID: 3}, []byte("abcd")))
	good := d.AppendCapsuleResp(nil, &nvme.Completion{CID: 4})
	r := tcp.NewReader(bytes.NewReader(append(bad, good...)), 4096)
	r.SetDigests(true, true)
	p, err := r.Next()
	var te *tcp.TermError
	if !errors.Is(err, tcp.ErrDataDigest) || errors.As(err, &te) || p.Type != tcp.TypeC2HData || tcp.ParseDataHeader(p).CID != 3 || string(p.Data) != "abcd" {
		t.Fatalf("bad data digest: %+v, %v; want the PDU and ErrDataDigest", p.Header, err)
	}
	p, err = r.Next()
	if err != nil || p.Type != tcp.TypeCapsuleRsp || binary.LittleEndian.Uint16(p.Specific[12:]) != 4 {
		t.Fatalf("PDU after: %+v, %v", p.Header, err)
	}
}

// A header digest error, or data without the data digest negotiated, is
// still fatal: the host answers with an H2CTermReq and the queue stops.
func TestHostDigestErrorsFatal(t *testing.T) {
	data := bytes.Repeat([]byte{1}, 4096)
	tests := []struct {
		name string
		pdu  func(s *scripted, cid uint16) []byte
		fes  tcp.FES
	}{
		{"CapsuleRespHeader", func(s *scripted, cid uint16) []byte {
			b := s.resp(cid, 0)
			b[tcp.CapsuleRspLen] ^= 1 // the header digest follows the header
			return b
		}, tcp.FESHeaderDigest},
		{"C2HDataHeader", func(s *scripted, cid uint16) []byte {
			b := s.data(cid, 0, data, tcp.FlagDataLast)
			b[tcp.DataHLen+1] ^= 1
			return b
		}, tcp.FESHeaderDigest},
		{"C2HDataFieldUnderHeaderDigest", func(s *scripted, cid uint16) []byte {
			b := s.data(cid, 0, data, tcp.FlagDataLast)
			b[12] ^= 1 // DATAO: the header digest no longer matches
			return b
		}, tcp.FESHeaderDigest},
		{"DataDigestFlagMissing", func(s *scripted, cid uint16) []byte {
			b := tcp.Digests{Header: true}.AppendData(nil, tcp.TypeC2HData, tcp.FlagDataLast, tcp.DataHeader{CID: cid}, data)
			return b
		}, tcp.FESInvalidHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memtest.Bounded(t, 4<<20)
			addr, term := startScripted(t, func(s *scripted) error {
				c, err := s.capsule()
				if err != nil {
					return err
				}
				return s.send(tt.pdu(s, c.CID))
			})
			q := hostileQueue(t, addr, tcp.HostConfig{HeaderDigest: true, DataDigest: true})
			cmd := readCmd(1)
			_, err := q.Do(commandCtx(t), &cmd, make([]byte, 4096))
			var te *tcp.TermError
			if !errors.As(err, &te) || te.FES != tt.fes || te.Remote {
				t.Fatalf("%v, want a TermError with FES %v", err, tt.fes)
			}
			if typ := <-term; typ != int(tcp.TypeH2CTermReq) {
				t.Fatalf("host sent PDU type %d, want H2CTermReq", typ)
			}
		})
	}
}

// A data digest error in a host's in-capsule data or H2CData fails that
// write alone, with Transient Transport Error and no DNR, without running
// its handler; the connection goes on and the next write succeeds.
func TestTargetDataDigestError(t *testing.T) {
	h := newTestHandler()
	c, served := dialTarget(t, context.Background(), tcp.TargetConfig{}, acceptConnect(h))
	dg := tcp.Digests{Data: true}
	connect := nvme.ConnectCommand(0, 32, 0)
	connect.SetSGL(nvme.SGL{Length: nvme.ConnectDataSize, Type: nvme.SGLDataBlockOffset})
	cd := nvme.ConnectData{CNTLID: nvme.DynamicController, SubsystemNQN: "nqn.test:sub", HostNQN: "nqn.test:host"}
	cdata, _ := cd.AppendBinary(nil)
	if _, err := c.Write(dg.AppendCapsuleCmd(tcp.AppendICReq(nil, tcp.ICReq{Digests: tcp.DigestData}), &connect, cdata)); err != nil {
		t.Fatal(err)
	}
	r := tcp.NewReader(c, 8192)
	r.SetDigests(false, true)
	next := func(want tcp.PDUType) tcp.PDU {
		t.Helper()
		p, err := r.Next()
		if err != nil || p.Type != want {
			t.Fatalf("got PDU type %#x, %v; want %#x", uint8(p.Type), err, uint8(want))
		}
		return p
	}
	status := func(cid uint16) nvme.Status {
		t.Helper()
		var cpl nvme.Completion
		if err := cpl.UnmarshalBinary(next(tcp.TypeCapsuleRsp).Specific); err != nil || cpl.CID != cid {
			t.Fatalf("response for CID %d, %v; want CID %d", cpl.CID, err, cid)
		}
		return cpl.Status
	}
	next(tcp.TypeICResp)
	if st := status(connect.CID); st != 0 {
		t.Fatalf("Connect: %v", st)
	}
	write := func(cid uint16, sgl uint8) nvme.Command {
		cmd := nvme.Command{Opcode: nvme.OpWrite, NSID: 1, CID: cid, CDW10: uint32(cid)}
		cmd.SetSGL(nvme.SGL{Length: 512, Type: sgl})
		return cmd
	}
	data := pattern(1, 512)
	tests := []struct {
		name string
		cmd  nvme.Command
		send func(cmd *nvme.Command) []byte
		want nvme.Status
	}{
		{"InCapsule", write(1, nvme.SGLDataBlockOffset), func(cmd *nvme.Command) []byte {
			return corrupt(dg.AppendCapsuleCmd(nil, cmd, data))
		}, nvme.StatusTransientTransport},
		{"H2CData", write(2, nvme.SGLTransportDataBlock), func(cmd *nvme.Command) []byte {
			if _, err := c.Write(dg.AppendCapsuleCmd(nil, cmd, nil)); err != nil {
				t.Fatal(err)
			}
			r2t := tcp.ParseDataHeader(next(tcp.TypeR2T))
			return corrupt(dg.AppendData(nil, tcp.TypeH2CData, tcp.FlagDataLast, tcp.DataHeader{CID: cmd.CID, TTag: r2t.TTag, Length: 512}, data))
		}, nvme.StatusTransientTransport},
		{"Sound", write(3, nvme.SGLTransportDataBlock), func(cmd *nvme.Command) []byte {
			if _, err := c.Write(dg.AppendCapsuleCmd(nil, cmd, nil)); err != nil {
				t.Fatal(err)
			}
			r2t := tcp.ParseDataHeader(next(tcp.TypeR2T))
			return dg.AppendData(nil, tcp.TypeH2CData, tcp.FlagDataLast, tcp.DataHeader{CID: cmd.CID, TTag: r2t.TTag, Length: 512}, data)
		}, 0},
	}
	for _, tt := range tests {
		if _, err := c.Write(tt.send(&tt.cmd)); err != nil {
			t.Fatal(err)
		}
		if st := status(tt.cmd.CID); st != tt.want {
			t.Fatalf("%s: status %v, want %v", tt.name, st, tt.want)
		}
	}
	c.Close()
	if err := <-served; err != nil {
		t.Fatalf("ServeTarget: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.blocks) != 1 || !bytes.Equal(h.blocks[3], data) {
		t.Fatalf("handler saw writes %v; want only the sound one", slices.Sorted(maps.Keys(h.blocks)))
	}
}
