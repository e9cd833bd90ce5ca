package host_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/complchain/complchain/internal/memtest"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/tcp"
)

// scriptedCtrl is an NVMe/TCP controller written PDU by PDU over
// loopback TCP: it brings up as the host expects and then behaves as its
// fields say. It serves any number of connections, each an association.
type scriptedCtrl struct {
	mqes     uint16 // CAP.MQES
	maxAdmin int    // admin Connect with a larger SQSIZE is refused; 0: none
	// refuse, if its status is not 0, answers every Connect with that
	// status and dword 0.
	refuse nvme.Completion
	// kaStatus answers each Keep Alive.
	kaStatus nvme.Status
	oaes     uint32 // Identify Controller OAES
	rtd3e    uint32 // Identify Controller RTD3E, µs
	shst     bool   // report shutdown complete once CC.SHN is set
	// aer answers the n-th Asynchronous Event Request (from 1) with a
	// status, or holds it if ok is false.
	aer func(n int) (st nvme.Status, ok bool)
	// ns answers Identify Namespace (CNS 00h) and its descriptor list
	// (CNS 03h) for nsid: the data to send, possibly short or none, and
	// the status; nil answers Invalid Opcode.
	ns func(cns nvme.CNS, nsid uint32) ([]byte, nvme.Status)
	// idc, if not nil, edits Identify Controller before it is sent.
	idc func(*nvme.IdentifyController)
	// log answers Get Log Page for lid with length bytes; nil answers
	// Invalid Opcode.
	log func(lid uint8, length int) ([]byte, nvme.Status)
	// aerDW0 is dword 0 of the n-th Asynchronous Event Request's
	// completion (from 1), when aer completes it.
	aerDW0 func(n int) uint32
	// raw, if not nil, is sent in place of the answer to the first
	// command other than those of bring-up and the Asynchronous Event
	// Request, and the connection then closed.
	raw []byte

	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
	connects []int              // SQSIZE of each admin Connect, in entries
	hosts    []nvme.ConnectData // the Connect data of each Connect
	katos    []uint32           // the KATO of each Connect, ms
	kaSeen   chan time.Time     // when each Keep Alive came
	aers     []time.Time        // when each Asynchronous Event Request came
	aerSeen  chan time.Time     // the same, as they come
	ccs      []uint32           // CC values set
	features []nvme.Command     // Set Features commands
	shnReads int                // CSTS reads once CC.SHN was set
}

func (f *scriptedCtrl) start(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.ln, f.aerSeen, f.kaSeen = ln, make(chan time.Time, 1024), make(chan time.Time, 1024)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				f.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { f.kill(); f.wg.Wait() })
	return ln.Addr().String()
}

// kill closes the listener and every connection: the controller is lost.
func (f *scriptedCtrl) kill() {
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
}

func (f *scriptedCtrl) serve(conn net.Conn) {
	r := tcp.NewReader(conn, 1<<20)
	p, err := r.Next()
	if err != nil {
		return
	}
	ic, err := tcp.ParseICReq(p)
	if err != nil {
		return
	}
	dg := tcp.Digests{Header: ic.Digests&tcp.DigestHeader != 0, Data: ic.Digests&tcp.DigestData != 0}
	conn.Write(tcp.AppendICResp(nil, tcp.ICResp{Digests: ic.Digests, MaxH2CData: 8192}))
	r.SetDigests(dg.Header, dg.Data)
	var cc uint32
	var wmu sync.Mutex
	send := func(b []byte) {
		wmu.Lock()
		conn.Write(b)
		wmu.Unlock()
	}
	for {
		p, err := r.Next()
		if err != nil {
			return
		}
		if p.Type != tcp.TypeCapsuleCmd {
			continue
		}
		var cmd nvme.Command
		cmd.UnmarshalBinary(p.Specific)
		cqe := nvme.Completion{CID: cmd.CID}
		var data []byte
		hold := false
		switch {
		case cmd.Opcode == nvme.OpFabrics && cmd.FabricsType() == nvme.FabricsConnect:
			_, sqsize, _ := cmd.ConnectQueue()
			var cd nvme.ConnectData
			cd.UnmarshalBinary(p.Data)
			f.mu.Lock()
			f.connects = append(f.connects, int(sqsize))
			f.hosts = append(f.hosts, cd)
			f.katos = append(f.katos, cmd.CDW12)
			f.mu.Unlock()
			switch {
			case f.refuse.Status != 0:
				cqe.Status, cqe.Result = f.refuse.Status, f.refuse.Result
			case f.maxAdmin > 0 && int(sqsize) > f.maxAdmin:
				cqe.Status = nvme.StatusConnectInvalidParam | nvme.StatusDNR
			default:
				cqe.Result = 1 // CNTLID
			}
		case cmd.Opcode == nvme.OpFabrics && cmd.FabricsType() == nvme.FabricsPropertyGet:
			switch cmd.CDW11 {
			case nvme.PropCAP:
				cqe.Result = uint64(f.mqes) | 1<<24 | 1<<37
			case nvme.PropVS:
				cqe.Result = 0x10400
			case nvme.PropCSTS:
				if cc&nvme.CCEnable != 0 {
					cqe.Result = nvme.CSTSReady
				}
				if cc&nvme.CCShnNormal != 0 {
					f.mu.Lock()
					f.shnReads++
					f.mu.Unlock()
					if f.shst {
						cqe.Result |= nvme.CSTSShstDone
					}
				}
			}
		case cmd.Opcode == nvme.OpFabrics && cmd.FabricsType() == nvme.FabricsPropertySet:
			if cmd.CDW11 == nvme.PropCC {
				cc = cmd.CDW12
				f.mu.Lock()
				f.ccs = append(f.ccs, cc)
				f.mu.Unlock()
			}
		case cmd.Opcode == nvme.OpIdentify && cmd.IdentifyCNS() == nvme.CNSController:
			id := nvme.IdentifyController{OAES: f.oaes, NN: 1, SubNQN: "nqn.2026-01.io.example:hostile", CNTLID: 1, Version: 0x10400}
			if f.idc != nil {
				f.idc(&id)
			}
			data, _ = id.AppendBinary(nil)
			binary.LittleEndian.PutUint32(data[88:], f.rtd3e)
		case f.raw != nil && cmd.Opcode != nvme.OpFabrics && cmd.Opcode != nvme.OpAsyncEvent && cmd.Opcode != nvme.OpSetFeatures &&
			!(cmd.Opcode == nvme.OpIdentify && cmd.IdentifyCNS() == nvme.CNSController):
			send(f.raw)
			return
		case cmd.Opcode == nvme.OpIdentify && f.ns != nil && (cmd.IdentifyCNS() == nvme.CNSNamespace || cmd.IdentifyCNS() == nvme.CNSNSDescriptors):
			data, cqe.Status = f.ns(cmd.IdentifyCNS(), cmd.NSID)
		case cmd.Opcode == nvme.OpAsyncEvent:
			f.mu.Lock()
			now := time.Now()
			f.aers = append(f.aers, now)
			n := len(f.aers)
			f.mu.Unlock()
			f.aerSeen <- now
			if f.aer == nil {
				hold = true
			} else {
				var ok bool
				cqe.Status, ok = f.aer(n)
				hold = !ok
				if ok && f.aerDW0 != nil {
					cqe.Result = uint64(f.aerDW0(n))
				}
			}
		case cmd.Opcode == nvme.OpGetLogPage && f.log != nil:
			lid, n, _ := cmd.LogPage()
			data, cqe.Status = f.log(lid, n)
		case cmd.Opcode == nvme.OpSetFeatures:
			f.mu.Lock()
			f.features = append(f.features, cmd)
			f.mu.Unlock()
		case cmd.Opcode == nvme.OpKeepAlive:
			select {
			case f.kaSeen <- time.Now():
			default:
			}
			cqe.Status = f.kaStatus
		default:
			cqe.Status = nvme.StatusInvalidOpcode | nvme.StatusDNR
		}
		if hold {
			continue
		}
		var b []byte
		if len(data) > 0 {
			b = dg.AppendData(b, tcp.TypeC2HData, tcp.FlagDataLast, tcp.DataHeader{CID: cmd.CID}, data)
		}
		send(dg.AppendCapsuleResp(b, &cqe))
	}
}

func (f *scriptedCtrl) record() (connects []int, aers int, ccs []uint32, shnReads int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.connects...), len(f.aers), append([]uint32(nil), f.ccs...), f.shnReads
}

func hostileConnect(t *testing.T, addr string, cfg host.Config) *host.Controller {
	t.Helper()
	cfg.SubsystemNQN = "nqn.2026-01.io.example:hostile"
	cfg.KATO = -1
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := host.Connect(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventsClosed waits, at most 5 s, for Events to be closed.
func eventsClosed(t *testing.T, c *host.Controller) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case _, ok := <-c.Events():
			if !ok {
				return
			}
		case <-deadline.C:
			t.Fatal("Events not closed 5 s after the controller was lost")
		}
	}
}

// roundTrips runs n admin commands, so that a host that resends a failed
// Asynchronous Event Request at once has had n chances to.
func roundTrips(t *testing.T, c *host.Controller, n int) {
	t.Helper()
	buf := make([]byte, nvme.IdentifySize)
	for range n {
		cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
		if _, err := c.Admin(context.Background(), &cmd, buf); err != nil {
			t.Fatal(err)
		}
	}
}

// A failed Asynchronous Event Request is not sent again if its status has
// Do Not Retry, and otherwise after pauses that double; Events still
// closes when the controller is lost.
func TestAsyncEventFailures(t *testing.T) {
	tests := []struct {
		name  string
		st    nvme.Status
		fails int // requests failed with st; the next is held
		want  int // requests the host sends
	}{
		{"InvalidOpcodeDNR", nvme.StatusInvalidOpcode | nvme.StatusDNR, 1 << 30, 1},
		{"InvalidFieldDNR", nvme.StatusInvalidField | nvme.StatusDNR, 1 << 30, 1},
		{"LimitExceeded", nvme.StatusAsyncEventLimit, 3, 4},
		{"InternalErrorOnce", nvme.StatusInternalError, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memtest.Bounded(t, 4<<20)
			f := &scriptedCtrl{mqes: 31, oaes: nvme.AsyncEventNamespaceChanged, shst: true,
				aer: func(n int) (nvme.Status, bool) { return tt.st, n <= tt.fails }}
			c := hostileConnect(t, f.start(t), host.Config{})
			var times []time.Time
			for range tt.want {
				times = append(times, <-f.aerSeen)
			}
			roundTrips(t, c, 20)
			if _, aers, _, _ := f.record(); aers != tt.want {
				t.Fatalf("%d Asynchronous Event Requests, want %d", aers, tt.want)
			}
			for i := 1; i < len(times); i++ {
				if gap, least := times[i].Sub(times[i-1]), 100*time.Millisecond<<(i-1); gap < least {
					t.Errorf("request %d sent %v after the failed one, want at least %v", i+1, gap, least)
				}
			}
			f.kill()
			eventsClosed(t, c)
		})
	}
}

// Events is closed when the controller is lost, whether it advertises
// namespace notices or not, so Scanner.Watch returns.
func TestEventsClosedOnLoss(t *testing.T) {
	for _, oaes := range []uint32{0, nvme.AsyncEventNamespaceChanged} {
		t.Run(map[uint32]string{0: "NoNotices", nvme.AsyncEventNamespaceChanged: "Notices"}[oaes], func(t *testing.T) {
			memtest.Bounded(t, 4<<20)
			f := &scriptedCtrl{mqes: 31, oaes: oaes}
			c := hostileConnect(t, f.start(t), host.Config{})
			watched := make(chan error, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			go func() {
				s := &scan.Scanner{Ctrl: c}
				watched <- s.Watch(ctx, func(*scan.Result, error) {})
			}()
			f.kill()
			eventsClosed(t, c)
			if err := <-watched; err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Watch returned %v, want the controller's loss", err)
			}
			if c.Err() == nil {
				t.Fatal("Err() = nil after the controller was lost")
			}
		})
	}
}

// The admin queue is as deep as the discovery entry says or, failing
// that, as CAP.MQES says if the controller takes it; a refused deeper
// Connect falls back to 32 entries.
func TestAdminQueueDepth(t *testing.T) {
	tests := []struct {
		name         string
		mqes         uint16
		maxAdmin     int
		cfg          host.Config
		wantConnects []int
		wantDepth    int
		wantErr      nvme.Status
	}{
		{"SPDK", 1023, 128, host.Config{}, []int{32, 1024}, 32, 0},
		{"Linux", 1023, 0, host.Config{}, []int{32, 1024}, 1024, 0},
		{"MQES31", 31, 0, host.Config{}, []int{32}, 32, 0},
		{"HugeMQES", 0xffff, 0, host.Config{}, []int{32, 4096}, 4096, 0},
		{"ASQSZ", 1023, 128, host.Config{ASQSZ: 128}, []int{128}, 128, 0},
		{"ASQSZRefused", 1023, 128, host.Config{ASQSZ: 256}, []int{256, 32}, 32, 0},
		{"ASQSZInvalid", 31, 0, host.Config{ASQSZ: 16}, []int{32}, 32, 0},
		{"ASQSZBeyondMax", 0xffff, 0, host.Config{ASQSZ: 65535}, []int{4096}, 4096, 0},
		{"Asked", 1023, 0, host.Config{AdminQueueDepth: 64, ASQSZ: 128}, []int{64}, 64, 0},
		{"AskedRefused", 1023, 32, host.Config{AdminQueueDepth: 64}, []int{64}, 0, nvme.StatusConnectInvalidParam},
		{"EvenThirtyTwoRefused", 1023, 16, host.Config{}, []int{32}, 0, nvme.StatusConnectInvalidParam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memtest.Bounded(t, 4<<20)
			f := &scriptedCtrl{mqes: tt.mqes, maxAdmin: tt.maxAdmin, shst: true}
			addr := f.start(t)
			cfg := tt.cfg
			cfg.SubsystemNQN, cfg.KATO = "nqn.2026-01.io.example:hostile", -1
			c, err := host.Connect(context.Background(), addr, cfg)
			connects, _, _, _ := f.record()
			if tt.wantErr != 0 {
				var ce *host.ConnectError
				if !errors.As(err, &ce) || ce.Status.Code() != tt.wantErr {
					t.Fatalf("Connect: %v, want a ConnectError with %v", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if got := c.QueueDepth(); got != tt.wantDepth {
					t.Errorf("QueueDepth = %d, want %d", got, tt.wantDepth)
				}
				roundTrips(t, c, 2)
			}
			if len(connects) != len(tt.wantConnects) {
				t.Fatalf("admin Connects with %v entries, want %v", connects, tt.wantConnects)
			}
			for i := range connects {
				if connects[i] != tt.wantConnects[i] {
					t.Fatalf("admin Connects with %v entries, want %v", connects, tt.wantConnects)
				}
			}
		})
	}
}

// Close requests a normal shutdown with CC.EN still set and polls
// CSTS.SHST with pauses, for a bounded time, whether or not the
// controller ever reports shutdown complete.
func TestShutdown(t *testing.T) {
	tests := []struct {
		name      string
		shst      bool
		rtd3e     uint32
		timeout   time.Duration // Config.ShutdownTimeout
		cmd       time.Duration // Config.CommandTimeout
		least     time.Duration // Close takes at least this long
		most      time.Duration // and less than this
		readsUpTo int           // CSTS reads after CC.SHN
	}{
		{"Completes", true, 0, 0, 0, 0, 2 * time.Second, 1},
		{"NeverCompletes", false, 0, 300 * time.Millisecond, 0, 300 * time.Millisecond, 3 * time.Second, 8},
		{"NeverCompletesRTD3E", false, 1, 0, 0, time.Second, 4 * time.Second, 16},
		{"BoundedByCommandTimeout", false, 0xffff_ffff, 0, 200 * time.Millisecond, 200 * time.Millisecond, 3 * time.Second, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memtest.Bounded(t, 4<<20)
			f := &scriptedCtrl{mqes: 31, shst: tt.shst, rtd3e: tt.rtd3e}
			c := hostileConnect(t, f.start(t), host.Config{ShutdownTimeout: tt.timeout, CommandTimeout: tt.cmd})
			start := time.Now()
			c.Close()
			took := time.Since(start)
			if took < tt.least || took >= tt.most {
				t.Errorf("Close took %v, want between %v and %v", took, tt.least, tt.most)
			}
			_, _, ccs, reads := f.record()
			if reads < 1 || reads > tt.readsUpTo {
				t.Errorf("%d CSTS reads after CC.SHN, want 1 to %d", reads, tt.readsUpTo)
			}
			last := ccs[len(ccs)-1]
			if last&nvme.CCShnNormal == 0 || last&nvme.CCEnable == 0 {
				t.Errorf("last CC set %#x, want SHN normal with EN still set", last)
			}
		})
	}
}

// A controller that answers an Identify with success but too little data
// (or none) fails that command: the host never decodes what a pooled page
// held from another namespace's answer.
func TestShortIdentifyNotStale(t *testing.T) {
	full := func(nsze uint64) []byte {
		ns := nvme.IdentifyNamespace{NSZE: nsze, NCAP: nsze, NUSE: nsze}
		ns.LBAF[0].DataShift = 9
		b, _ := ns.AppendBinary(nil)
		return b
	}
	tests := []struct {
		name string
		send []byte
	}{
		{"NoData", nil},
		{"OneByte", full(7)[:1]},
		{"AllButOneDword", full(7)[:nvme.IdentifySize-4]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memtest.Bounded(t, 4<<20)
			f := &scriptedCtrl{mqes: 31, shst: true, ns: func(cns nvme.CNS, nsid uint32) ([]byte, nvme.Status) {
				switch {
				case cns == nvme.CNSNSDescriptors:
					return nil, nvme.StatusInvalidField | nvme.StatusDNR // no list: not an error
				case nsid == 1:
					return full(1000), 0
				}
				return tt.send, 0
			}}
			c := hostileConnect(t, f.start(t), host.Config{})
			ctx := context.Background()
			for range 3 { // the pages of namespace 1 go back to the pool
				if ns, _, err := c.IdentifyNamespaceIDs(ctx, 1); err != nil || ns.NSZE != 1000 {
					t.Fatalf("namespace 1: %+v, %v", ns, err)
				}
			}
			if ns, err := c.IdentifyNamespace(ctx, 2); !errors.Is(err, tcp.ErrShortTransfer) {
				t.Fatalf("IdentifyNamespace(2) = %+v, %v; want ErrShortTransfer", ns, err)
			}
			if ns, _, err := c.IdentifyNamespaceIDs(ctx, 2); !errors.Is(err, tcp.ErrShortTransfer) {
				t.Fatalf("IdentifyNamespaceIDs(2) = %+v, %v; want ErrShortTransfer", ns, err)
			}
			if ns, _, err := c.IdentifyNamespaceIDs(ctx, 1); err != nil || ns.NSZE != 1000 {
				t.Fatalf("namespace 1 after: %+v, %v", ns, err)
			}
		})
	}
}
