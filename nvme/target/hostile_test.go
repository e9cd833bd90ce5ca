package target

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/internal/memtest"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// The tests of this file play a hostile host: a script of raw PDUs over
// loopback TCP against a Target. Each case checks the answer the
// specification gives (a C2HTermReq with its FES and offset, an NVMe
// status, or a close), that the heap is back to what it was, that no
// goroutine is left, and that a well-behaved controller connected
// beforehand is still served.

// rawHost is one hostile connection.
type rawHost struct {
	t  testing.TB
	c  net.Conn
	r  *tcp.Reader
	dg tcp.Digests
}

// ioWait bounds every read of a test, so that a target that fails to
// answer fails the test instead of hanging it.
const ioWait = 10 * time.Second

func dialRaw(t testing.TB, addr string) *rawHost {
	return dialRawFrom(t, addr, "")
}

// dialRawFrom connects from a given loopback source address ("" for any).
func dialRawFrom(t testing.TB, addr, from string) *rawHost {
	t.Helper()
	d := net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawHost{t: t, c: c, r: tcp.NewReader(c, 1<<20)}
}

func (h *rawHost) send(b []byte) {
	h.t.Helper()
	if _, err := h.c.Write(b); err != nil {
		h.t.Fatalf("write: %v", err)
	}
}

// next reads the next PDU, failing the test on any error.
func (h *rawHost) next() tcp.PDU {
	h.t.Helper()
	p, err := h.nextErr()
	if err != nil {
		h.t.Fatalf("read: %v", err)
	}
	return p
}

func (h *rawHost) nextErr() (tcp.PDU, error) {
	h.c.SetReadDeadline(time.Now().Add(ioWait))
	return h.r.Next()
}

// icreq sends an ICReq and reads the ICResp.
func (h *rawHost) icreq() {
	h.t.Helper()
	h.send(tcp.AppendICReq(nil, tcp.ICReq{}))
	if p := h.next(); p.Type != tcp.TypeICResp {
		h.t.Fatalf("PDU type %#x, want ICResp", p.Type)
	}
}

func (h *rawHost) capsule(cmd *nvme.Command, data []byte) {
	h.t.Helper()
	h.send(h.dg.AppendCapsuleCmd(nil, cmd, data))
}

// connect sends Connect for qid with the SQSIZE field sqsize (0's based)
// and returns its completion.
func (h *rawHost) connect(qid, sqsize uint16, cntlid uint16, nqn string) nvme.Completion {
	h.t.Helper()
	cmd := connectCmd(qid, sqsize, 0)
	cmd.CID = 0xc0
	cmd.SetSGL(nvme.SGL{Length: nvme.ConnectDataSize, Type: nvme.SGLDataBlockOffset})
	h.capsule(cmd, connectDataBytes(cntlid, nqn, testHostNQN))
	return h.response(0xc0)
}

// response reads PDUs up to the response for cid, failing on an R2T or a
// C2HTermReq on the way.
func (h *rawHost) response(cid uint16) nvme.Completion {
	h.t.Helper()
	for {
		p := h.next()
		switch p.Type {
		case tcp.TypeCapsuleRsp:
			var c nvme.Completion
			c.UnmarshalBinary(p.Specific)
			if c.CID == cid {
				return c
			}
		case tcp.TypeR2T:
			h.t.Fatalf("R2T %+v before the response to CID %d", tcp.ParseDataHeader(p), cid)
		case tcp.TypeC2HTermReq:
			h.t.Fatalf("C2HTermReq %v before the response to CID %d", tcp.ParseTermReq(p), cid)
		}
	}
}

// r2t reads the next PDU, which must be an R2T.
func (h *rawHost) r2t() tcp.DataHeader {
	h.t.Helper()
	p := h.next()
	if p.Type != tcp.TypeR2T {
		h.t.Fatalf("PDU type %#x, want R2T", p.Type)
	}
	return tcp.ParseDataHeader(p)
}

// sendData sends the data an R2T asks for, in MAXH2CDATA pieces.
func (h *rawHost) sendData(r tcp.DataHeader) {
	h.t.Helper()
	data := make([]byte, r.Length)
	var b []byte
	for off := 0; off < len(data); off += 128 << 10 {
		n := min(128<<10, len(data)-off)
		var flags uint8
		if off+n == len(data) {
			flags = tcp.FlagDataLast
		}
		b = h.dg.AppendData(b[:0], tcp.TypeH2CData, flags, tcp.DataHeader{CID: r.CID, TTag: r.TTag, Offset: uint32(off)}, data[off:off+n])
		h.send(b)
	}
}

// wantTerm reads up to a C2HTermReq, checks its FES and offset, and then
// that the target closed the connection.
func (h *rawHost) wantTerm(fes tcp.FES, off uint32) {
	h.t.Helper()
	for {
		p, err := h.nextErr()
		if err != nil {
			h.t.Fatalf("no C2HTermReq (want FES %v offset %d): %v", fes, off, err)
		}
		if p.Type == tcp.TypeC2HTermReq {
			if te := tcp.ParseTermReq(p); te.FES != fes || te.Offset != off {
				h.t.Fatalf("C2HTermReq FES %v offset %d, want %v offset %d", te.FES, te.Offset, fes, off)
			}
			h.wantClose()
			return
		}
	}
}

// wantClose reads until the target closes the connection, with no
// C2HTermReq on the way.
func (h *rawHost) wantClose() {
	h.t.Helper()
	for {
		p, err := h.nextErr()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			h.t.Fatal("connection still open")
		}
		if err != nil {
			return
		}
		if p.Type == tcp.TypeC2HTermReq {
			h.t.Fatalf("C2HTermReq %v, want a plain close", tcp.ParseTermReq(p))
		}
	}
}

// logBuffer collects a target's log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// heapSlack is how much the live heap may grow over a hostile case:
// buffers of the runtime and the test, far below what the attacks used to
// cost (hundreds of MiB).
const heapSlack = 4 << 20

// hostile runs script against a fresh target serving cfg, with a
// well-behaved controller connected beforehand, and checks afterwards
// that this controller is still served, that the heap is back within
// heapSlack and that no goroutine is left. It returns the target's log.
func hostile(t *testing.T, cfg Config, script func(t *testing.T, tg *Target, addr string)) string {
	t.Helper()
	var log logBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	if cfg.Namespaces == 0 && len(cfg.Subsystems) == 0 {
		cfg.Namespaces = 2
	}
	before := memtest.HeapInUse()
	leaks := goleak.IgnoreCurrent()
	tg := newTarget(t, cfg)
	addr, err := tg.Start(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	good, _ := admin(t, addr, tg.NQN(), 0)
	// A subtest, so that the script's connections are closed (its
	// cleanups run) before the checks.
	t.Run("script", func(t *testing.T) { script(t, tg, addr) })
	if _, err := identify(good, nvme.CNSController, 0); err != nil {
		t.Errorf("the well-behaved controller is no longer served: %v", err)
	}
	good.Close()
	tg.Close()
	if after := memtest.HeapInUse(); after > before+heapSlack {
		t.Errorf("live heap grew from %d to %d bytes", before, after)
	}
	goleak.VerifyNone(t, leaks)
	return log.String()
}

// ioConnect connects h as I/O queue 1 of a new, enabled controller.
func ioConnect(t *testing.T, tg *Target, addr string, h *rawHost, sqsize uint16) {
	t.Helper()
	aq := dial(t, addr, tcp.HostConfig{})
	c, err := connect(aq, 0, nvme.DynamicController, tg.NQN(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := propSet(aq, nvme.PropCC, ccEnable); err != nil {
		t.Fatal(err)
	}
	h.icreq()
	if r := h.connect(1, sqsize-1, uint16(c.Result), tg.NQN()); r.Status != 0 {
		t.Fatalf("I/O Connect: %v", r.Status)
	}
}

// transportWrite is a write of n 512-byte blocks whose data comes by R2T.
func transportWrite(cid uint16, slba uint64, n int) *nvme.Command {
	cmd := writeCmd(1, slba, uint16(n))
	cmd.CID = cid
	cmd.SetSGL(nvme.SGL{Length: uint32(n * 512), Type: nvme.SGLTransportDataBlock})
	return cmd
}

// Before a Connect succeeded, any command but Connect completes with
// Command Sequence Error and moves no data: no R2T, no buffer.
func TestHostileBeforeConnect(t *testing.T) {
	mib := 2048 // blocks: 1 MiB
	tests := []struct {
		name string
		cmd  *nvme.Command
		data []byte
	}{
		{"WriteByR2T", transportWrite(1, 0, mib), nil},
		{"WriteInCapsule", func() *nvme.Command {
			c := writeCmd(1, 0, 8)
			c.CID = 1
			c.SetSGL(nvme.SGL{Length: 4096, Type: nvme.SGLDataBlockOffset})
			return c
		}(), make([]byte, 4096)},
		{"Identify", func() *nvme.Command { c := identifyCmd(nvme.CNSController, 0); c.CID = 1; return c }(), nil},
		{"PropertyGet", &nvme.Command{CID: 1, Opcode: nvme.OpFabrics, NSID: uint32(nvme.FabricsPropertyGet), CDW11: nvme.PropCAP}, nil},
		{"KeepAlive", &nvme.Command{CID: 1, Opcode: nvme.OpKeepAlive}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hostile(t, Config{}, func(t *testing.T, tg *Target, addr string) {
				h := dialRaw(t, addr)
				h.icreq()
				h.capsule(tt.cmd, tt.data)
				if c := h.response(1); c.Status.Code() != nvme.StatusCommandSequenceError || !c.Status.DNR() {
					t.Fatalf("status %v, want Command Sequence Error with DNR", c.Status)
				}
			})
		})
	}
}

// The attack of 4 connections × 64 writes of 1 MiB with 896 KiB of data
// each, no Connect, used to cost 224 MiB: now every write fails at once and
// the unasked data is a protocol error.
func TestHostileWritesWithoutConnect(t *testing.T) {
	hostile(t, Config{}, func(t *testing.T, tg *Target, addr string) {
		var wg sync.WaitGroup
		for range 4 {
			h := dialRaw(t, addr)
			h.icreq()
			var b []byte
			for i := range 64 {
				b = h.dg.AppendCapsuleCmd(b, transportWrite(uint16(i), uint64(i)*2048, 2048), nil)
			}
			h.send(b)
			for i := range 64 {
				if c := h.response(uint16(i)); c.Status.Code() != nvme.StatusCommandSequenceError {
					t.Fatalf("write %d: %v", i, c.Status)
				}
			}
			wg.Go(func() {
				// Data nobody asked for, larger than anything a queue
				// without Connect may carry.
				h.c.Write(h.dg.AppendData(nil, tcp.TypeH2CData, 0, tcp.DataHeader{TTag: 1}, make([]byte, 128<<10)))
			})
			h.wantTerm(tcp.FESInvalidHeader, 4) // PLEN beyond the in-capsule size
		}
		wg.Wait()
	})
}

// A rejected Connect does not size the queue: SQSIZE FFFFh on an admin
// queue is refused, and the queue stays unconnected, its writes refused
// without an R2T.
func TestHostileRejectedConnect(t *testing.T) {
	tests := []struct {
		name   string
		qid    uint16
		sqsize uint16 // 0's based
	}{
		{"AdminFFFFh", 0, 0xffff},
		{"AdminAboveASQSZ", 0, DefaultAdminQueueDepth},
		{"IOAboveMQES", 1, DefaultIOQueueDepth},
		{"IOFFFFh", 1, 0xffff},
		{"Zero", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hostile(t, Config{}, func(t *testing.T, tg *Target, addr string) {
				cntlid := uint16(nvme.DynamicController)
				if tt.qid != 0 {
					aq, id := admin(t, addr, tg.NQN(), 0)
					defer aq.Close()
					cntlid = id
				}
				h := dialRaw(t, addr)
				h.icreq()
				c := h.connect(tt.qid, tt.sqsize, cntlid, tg.NQN())
				if c.Status.Code() != nvme.StatusConnectInvalidParam || c.Result != uint64(nvme.ConnectParamSQSIZE) {
					t.Fatalf("Connect: status %v result %#x, want Connect Invalid Parameters on SQSIZE", c.Status, c.Result)
				}
				var b []byte
				for i := range 200 {
					b = h.dg.AppendCapsuleCmd(b, transportWrite(uint16(i), 0, 2048), nil)
				}
				h.send(b)
				for i := range 200 {
					if c := h.response(uint16(i)); c.Status.Code() != nvme.StatusCommandSequenceError {
						t.Fatalf("write %d: %v", i, c.Status)
					}
				}
			})
		})
	}
}

// Writes wait for the connection's budget before their R2T is sent: with
// room for one 1 MiB write, the second R2T comes only after the first
// write completed.
func TestHostileConnectionBudget(t *testing.T) {
	cfg := Config{Limits: Limits{ConnWriteBudget: 1 << 20, WriteBudget: 2 << 20}}
	hostile(t, cfg, func(t *testing.T, tg *Target, addr string) {
		h := dialRaw(t, addr)
		ioConnect(t, tg, addr, h, 32)
		var b []byte
		for i := range 4 {
			b = h.dg.AppendCapsuleCmd(b, transportWrite(uint16(i), uint64(i)*2048, 2048), nil)
		}
		b = h.dg.AppendCapsuleCmd(b, &nvme.Command{CID: 9, Opcode: nvme.OpFlush, NSID: 1}, nil)
		h.send(b)
		for i := range 4 {
			r := h.r2t()
			if r.CID != uint16(i) {
				t.Fatalf("R2T for CID %d, want %d", r.CID, i)
			}
			if i == 0 {
				// The flush after the four writes is answered with no
				// other R2T before it: the next writes wait.
				if c := h.response(9); c.Status != 0 {
					t.Fatal(c.Status)
				}
			}
			if used := tg.budget.Used(); used != 1<<20 {
				t.Fatalf("target budget holds %d bytes, want one write", used)
			}
			h.sendData(r)
			if c := h.response(uint16(i)); c.Status != 0 {
				t.Fatal(c.Status)
			}
		}
	})
}

// Writes wait for the target's budget too: two connections fill it, a
// third waits until one of them gives its write back.
func TestHostileTargetBudget(t *testing.T) {
	cfg := Config{Limits: Limits{ConnWriteBudget: 1 << 20, WriteBudget: 2 << 20}}
	hostile(t, cfg, func(t *testing.T, tg *Target, addr string) {
		var hs []*rawHost
		for i := range 3 {
			h := dialRaw(t, addr)
			ioConnect(t, tg, addr, h, 32)
			h.capsule(transportWrite(1, 0, 2048), nil)
			h.capsule(&nvme.Command{CID: 9, Opcode: nvme.OpFlush, NSID: 1}, nil)
			if i < 2 {
				h.r2t()
			}
			if c := h.response(9); c.Status != 0 { // fails on an R2T for the third
				t.Fatal(c.Status)
			}
			hs = append(hs, h)
		}
		hs[0].c.Close() // gives its write back
		r := hs[2].r2t()
		hs[2].sendData(r)
		if c := hs[2].response(1); c.Status != 0 {
			t.Fatal(c.Status)
		}
	})
}

// A host that does not send the data it was asked for is cut off after
// DataTimeout, and the target says so in its log.
func TestHostileDataTimeout(t *testing.T) {
	cfg := Config{Limits: Limits{DataTimeout: 50 * time.Millisecond}}
	log := hostile(t, cfg, func(t *testing.T, tg *Target, addr string) {
		h := dialRaw(t, addr)
		ioConnect(t, tg, addr, h, 32)
		h.capsule(transportWrite(1, 0, 8), nil)
		h.r2t()
		h.wantClose()
	})
	if !strings.Contains(log, "write data late") {
		t.Errorf("no log line for the data time-out:\n%s", log)
	}
}

// A connection that does not connect in time is closed, whatever stage it
// stalls at, and the target says so in its log.
func TestHostileConnectTimeout(t *testing.T) {
	tests := []struct {
		name string
		send func(h *rawHost)
	}{
		{"Silent", func(h *rawHost) {}},
		{"PartialICReq", func(h *rawHost) { h.send(tcp.AppendICReq(nil, tcp.ICReq{})[:10]) }},
		{"NoConnect", func(h *rawHost) { h.icreq() }},
		{"PartialConnect", func(h *rawHost) {
			h.icreq()
			b := h.dg.AppendCapsuleCmd(nil, connectCmd(0, 31, 0), connectDataBytes(nvme.DynamicController, DefaultNQN, testHostNQN))
			h.send(b[:100])
		}},
		{"RejectedConnect", func(h *rawHost) {
			h.icreq()
			if c := h.connect(0, 31, nvme.DynamicController, "nqn.2026-01.io.example:nope"); c.Status == 0 {
				h.t.Fatal("Connect to an unknown NQN accepted")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Long enough for the well-behaved controller hostile
			// connects first, on a loaded machine under -race.
			cfg := Config{Limits: Limits{ConnectTimeout: 400 * time.Millisecond}}
			log := hostile(t, cfg, func(t *testing.T, tg *Target, addr string) {
				h := dialRaw(t, addr)
				tt.send(h)
				h.wantClose()
			})
			if !strings.Contains(log, "no Connect in time") {
				t.Errorf("no log line for the connect time-out:\n%s", log)
			}
		})
	}
}

// Connections beyond the limits are closed at once, with a log line;
// another source address is still served.
func TestHostileConnectionLimits(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		other  string // a source address still served, or ""
	}{
		{"PerHost", Limits{MaxConnectionsPerHost: 3}, "127.0.0.2"},
		{"Total", Limits{MaxConnections: 3}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := hostile(t, Config{Limits: tt.limits}, func(t *testing.T, tg *Target, addr string) {
				// The well-behaved controller holds one connection.
				a, b := dialRaw(t, addr), dialRaw(t, addr)
				a.icreq()
				b.icreq()
				over := dialRaw(t, addr)
				over.wantClose()
				if tt.other != "" {
					dialRawFrom(t, addr, tt.other).icreq()
				}
				a.c.Close()
				b.c.Close()
			})
			if !strings.Contains(log, "connection refused") {
				t.Errorf("no log line for the refused connection:\n%s", log)
			}
		})
	}
}

// Strict where the specification is: a second ICReq is a PDU sequence
// error, in-capsule data needs the offset descriptor. Lenient where Linux
// is: a command without data may carry any descriptor type.
func TestHostileSGLAndSequence(t *testing.T) {
	t.Run("SecondICReq", func(t *testing.T) {
		hostile(t, Config{}, func(t *testing.T, tg *Target, addr string) {
			h := dialRaw(t, addr)
			h.icreq()
			h.send(tcp.AppendICReq(nil, tcp.ICReq{}))
			h.wantTerm(tcp.FESSequence, 0)
		})
	})
	t.Run("SecondICReqAfterConnect", func(t *testing.T) {
		hostile(t, Config{}, func(t *testing.T, tg *Target, addr string) {
			h := dialRaw(t, addr)
			ioConnect(t, tg, addr, h, 32)
			h.send(tcp.AppendICReq(nil, tcp.ICReq{}))
			h.wantTerm(tcp.FESSequence, 0)
		})
	})
	tests := []struct {
		name string
		cmd  func() *nvme.Command
		data []byte
		want nvme.Status
	}{
		{"NoDataSGL50h", func() *nvme.Command {
			c := &nvme.Command{Opcode: nvme.OpFlush, NSID: 1}
			c.SetSGL(nvme.SGL{Type: 0x50})
			return c
		}, nil, 0},
		{"NoDataSGL5Ah", func() *nvme.Command { return &nvme.Command{Opcode: nvme.OpFlush, NSID: 1} }, nil, 0},
		{"NoDataSGLFFh", func() *nvme.Command {
			c := &nvme.Command{Opcode: nvme.OpFlush, NSID: 1}
			c.SetSGL(nvme.SGL{Type: 0xff})
			return c
		}, nil, 0},
		{"InCapsuleWithSGL5Ah", func() *nvme.Command { return transportWrite(0, 0, 8) }, make([]byte, 4096), nvme.StatusSGLInvalidType},
		{"InCapsuleWithSGL50h", func() *nvme.Command {
			c := transportWrite(0, 0, 8)
			c.SetSGL(nvme.SGL{Length: 4096, Type: 0x50})
			return c
		}, make([]byte, 4096), nvme.StatusSGLInvalidType},
		{"DataSGL50h", func() *nvme.Command {
			c := readCmd(1, 0, 8)
			c.SetSGL(nvme.SGL{Length: 4096, Type: 0x50})
			return c
		}, nil, nvme.StatusSGLInvalidType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hostile(t, Config{}, func(t *testing.T, tg *Target, addr string) {
				h := dialRaw(t, addr)
				ioConnect(t, tg, addr, h, 32)
				cmd := tt.cmd()
				cmd.CID = 7
				h.capsule(cmd, tt.data)
				if c := h.response(7); c.Status.Code() != tt.want {
					t.Fatalf("status %v, want %v", c.Status, tt.want)
				}
				// The connection goes on.
				h.capsule(&nvme.Command{CID: 8, Opcode: nvme.OpFlush, NSID: 1}, nil)
				if c := h.response(8); c.Status != 0 {
					t.Fatal(c.Status)
				}
			})
		})
	}
}

// Too many writes waiting for data: the host is cut off with
// FESDataLimit, whatever the queue size it connected with.
func TestHostileTooManyWrites(t *testing.T) {
	cfg := Config{IOQueueDepth: 2}
	hostile(t, cfg, func(t *testing.T, tg *Target, addr string) {
		h := dialRaw(t, addr)
		ioConnect(t, tg, addr, h, 2)
		var b []byte
		// MaxOutstanding is twice the deepest queue, the admin queue's 32.
		for i := range 65 {
			b = h.dg.AppendCapsuleCmd(b, transportWrite(uint16(i), 0, 8), nil)
		}
		h.send(b)
		h.wantTerm(tcp.FESDataLimit, 0)
	})
}

// A host that sends reads and never reads the data back makes the target
// hold a bounded backlog, not every response: once the backlog is full
// it stops executing and reading.
func TestHostileNoReading(t *testing.T) {
	hostile(t, Config{}, func(t *testing.T, tg *Target, addr string) {
		h := dialRaw(t, addr)
		ioConnect(t, tg, addr, h, 1024)
		before := memtest.HeapInUse()
		const n = 128 // reads of 1 MiB
		var b []byte
		for i := range n {
			cmd := readCmd(1, uint64(i)*2048, 2048)
			cmd.CID = uint16(i)
			cmd.SetSGL(nvme.SGL{Length: 1 << 20, Type: nvme.SGLTransportDataBlock})
			b = h.dg.AppendCapsuleCmd(b, cmd, nil)
		}
		h.send(b)
		// The target has stalled when its read count stays put over a few
		// collections (each takes milliseconds), or is done.
		var peak uint64
		for last, still := uint64(0), 0; still < 5; {
			peak = max(peak, memtest.HeapInUse())
			reads := tg.stats.reads.Load()
			if reads == n {
				break
			}
			if reads == last {
				still++
			} else {
				last, still = reads, 0
			}
		}
		if reads := tg.stats.reads.Load(); reads == n {
			t.Fatalf("the target executed all %d reads for a host that reads nothing", n)
		}
		if grown := int64(peak) - int64(before); grown > 16<<20 {
			t.Errorf("heap grew by %d MiB with a host not reading", grown>>20)
		}
		h.c.Close()
	})
}

// A keep alive time-out tears a connected controller down and is logged.
func TestHostileKeepAlive(t *testing.T) {
	log := hostile(t, Config{}, func(t *testing.T, tg *Target, addr string) {
		h := dialRaw(t, addr)
		h.icreq()
		cmd := connectCmd(0, 31, 100*time.Millisecond)
		cmd.CID = 1
		cmd.SetSGL(nvme.SGL{Length: nvme.ConnectDataSize, Type: nvme.SGLDataBlockOffset})
		h.capsule(cmd, connectDataBytes(nvme.DynamicController, tg.NQN(), testHostNQN))
		if c := h.response(1); c.Status != 0 {
			t.Fatal(c.Status)
		}
		h.wantClose()
	})
	if !strings.Contains(log, "keep alive timeout") {
		t.Errorf("no log line for the keep alive time-out:\n%s", log)
	}
}

// A host that sends Connect after Connect to subsystems that do not exist
// or do not allow it gets the refusal each time, with a few log lines,
// not one per Connect; nothing is kept for it.
func TestHostileRefusedConnects(t *testing.T) {
	const locked = "nqn.2026-01.io.example:locked"
	cfg := Config{Subsystems: []SubsystemConfig{
		{NQN: DefaultNQN, Namespaces: 2},
		{NQN: locked, Namespaces: 1, AllowedHosts: []string{testHostNQN}},
	}}
	var elapsed time.Duration
	log := hostile(t, cfg, func(t *testing.T, tg *Target, addr string) {
		start := time.Now()
		q := dial(t, addr, tcp.HostConfig{})
		for i := range 300 {
			subnqn, hostnqn, want, ipo := "nqn.2026-01.io.example:unknown-"+strconv.Itoa(i), testHostNQN, nvme.StatusConnectInvalidParam, nvme.ConnectParamSUBNQN
			if i%2 == 1 {
				subnqn, hostnqn, want, ipo = locked, "nqn.2026-01.io.example:intruder-"+strconv.Itoa(i), nvme.StatusConnectInvalidHost, nvme.ConnectParamHOSTNQN
			}
			c, err := q.Do(context.Background(), connectCmd(0, 31, 0), connectDataBytes(nvme.DynamicController, subnqn, hostnqn))
			var st nvme.Status
			if !errors.As(err, &st) || st.Code() != want || c.Result != uint64(ipo) {
				t.Fatalf("Connect %d: %v, result %#x", i, err, c.Result)
			}
		}
		if n := len(tg.controllers(tg.Subsystem(locked))); n != 0 {
			t.Errorf("%d controllers of the locked subsystem", n)
		}
		elapsed = time.Since(start)
	})
	for _, msg := range []string{"connect refused: unknown subsystem", "connect refused: host not allowed"} {
		n := strings.Count(log, msg)
		if limit := 2 + int(elapsed/time.Second); n == 0 || n > limit {
			t.Errorf("%q logged %d times in %v, want 1..%d", msg, n, elapsed, limit)
		}
	}
}
