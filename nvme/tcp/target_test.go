package tcp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/complchain/complchain/internal/netem"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// hangNSID is a namespace whose commands the test handler answers only
// when released.
const hangNSID = 0xdead

// testHandler answers Identify with 4 KiB of data patterned by NSID, keeps
// writes in memory by starting LBA and reads them back.
type testHandler struct {
	mu      sync.Mutex
	blocks  map[uint32][]byte
	release chan struct{} // closed to answer hangNSID commands
}

func newTestHandler() *testHandler {
	return &testHandler{blocks: map[uint32][]byte{}, release: make(chan struct{})}
}

func pattern(nsid uint32, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(uint32(i)*7 + nsid)
	}
	return b
}

func (h *testHandler) ServeNVMe(ctx context.Context, req *tcp.Request) tcp.Response {
	c := &req.Command
	if c.NSID == hangNSID {
		select {
		case <-h.release:
		case <-ctx.Done():
			return tcp.Response{Completion: nvme.Completion{Status: nvme.StatusAbortRequested}}
		}
	}
	switch c.Opcode {
	case nvme.OpFabrics:
		return tcp.Response{Completion: nvme.Completion{Result: 1}}
	case nvme.OpIdentify:
		return tcp.Response{Data: pattern(c.NSID, nvme.IdentifySize)}
	case nvme.OpWrite:
		h.mu.Lock()
		h.blocks[c.CDW10] = bytes.Clone(req.Data) // valid only until we return
		h.mu.Unlock()
		return tcp.Response{}
	case nvme.OpRead:
		h.mu.Lock()
		defer h.mu.Unlock()
		d, ok := h.blocks[c.CDW10]
		if !ok {
			return tcp.Response{Completion: nvme.Completion{Status: nvme.StatusLBAOutOfRange}}
		}
		return tcp.Response{Data: d}
	}
	return tcp.Response{Completion: nvme.Completion{Status: nvme.StatusInvalidOpcode | nvme.StatusDNR}}
}

// acceptConnect answers a Fabrics Connect with success and passes every
// other command to h.
func acceptConnect(h tcp.Handler) tcp.Handler {
	a := tcp.HandlerFunc(func(ctx context.Context, req *tcp.Request) tcp.Response {
		if isConnect(req) {
			return tcp.Response{Completion: nvme.Completion{Result: 1}}
		}
		return h.ServeNVMe(ctx, req)
	})
	if ih, ok := h.(tcp.InlineHandler); ok {
		return inlineAccepter{a, ih}
	}
	return a
}

func isConnect(req *tcp.Request) bool {
	return req.Command.Opcode == nvme.OpFabrics && req.Command.FabricsType() == nvme.FabricsConnect
}

// inlineAccepter is acceptConnect's handler for an InlineHandler.
type inlineAccepter struct {
	tcp.HandlerFunc
	ih tcp.InlineHandler
}

func (a inlineAccepter) ServeNVMeInline(ctx context.Context, req *tcp.Request) (tcp.Response, bool) {
	if isConnect(req) {
		return tcp.Response{Completion: nvme.Completion{Result: 1}}, true
	}
	return a.ih.ServeNVMeInline(ctx, req)
}

// connectQueue sends the Connect every queue starts with (an admin queue
// of 32 entries).
func connectQueue(q *tcp.HostQueue) error {
	cmd := nvme.ConnectCommand(0, 32, 0)
	cd := nvme.ConnectData{CNTLID: nvme.DynamicController, SubsystemNQN: "nqn.test:sub", HostNQN: "nqn.test:host"}
	data, _ := cd.AppendBinary(nil)
	_, err := q.Do(context.Background(), &cmd, data)
	return err
}

// pair serves h with ServeTarget on 127.0.0.1:0, connects a host queue to
// it and sends Connect, which acceptConnect answers. wrap, if not nil,
// wraps the host's connection. ServeTarget's result is sent on the
// returned channel.
func pair(t testing.TB, tcfg tcp.TargetConfig, hcfg tcp.HostConfig, h tcp.Handler, wrap func(net.Conn) net.Conn) (*tcp.HostQueue, <-chan error) {
	t.Helper()
	q, served := pairUnconnected(t, tcfg, hcfg, h, wrap)
	if err := connectQueue(q); err != nil {
		t.Fatal(err)
	}
	return q, served
}

// pairUnconnected is pair without the Connect.
func pairUnconnected(t testing.TB, tcfg tcp.TargetConfig, hcfg tcp.HostConfig, h tcp.Handler, wrap func(net.Conn) net.Conn) (*tcp.HostQueue, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, served := dialTarget(t, ctx, tcfg, acceptConnect(h))
	if wrap != nil {
		conn = wrap(conn)
	}
	q, err := tcp.NewHostQueue(context.Background(), conn, hcfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		q.Close()
		cancel()
	})
	return q, served
}

// dialTarget serves h with ServeTarget(ctx, …, cfg, h) on the connection
// it dials to a listener on 127.0.0.1, and returns the host's side of
// it. ServeTarget's result is sent on the returned channel; at the end
// of the test dialTarget closes the connection and waits for
// ServeTarget to return.
func dialTarget(t testing.TB, ctx context.Context, cfg tcp.TargetConfig, h tcp.Handler) (net.Conn, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			served <- err
			return
		}
		served <- tcp.ServeTarget(ctx, c, cfg, h)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		<-finished
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		<-finished
	})
	return conn, served
}

// identifyAll identifies NSIDs 1 to n at once, each in its own goroutine,
// and reports every failure.
func identifyAll(t *testing.T, q *tcp.HostQueue, n uint32) {
	t.Helper()
	var wg sync.WaitGroup
	for nsid := range n {
		wg.Go(func() {
			if err := identify(q, context.Background(), nsid+1, make([]byte, nvme.IdentifySize)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func identify(q *tcp.HostQueue, ctx context.Context, nsid uint32, buf []byte) error {
	cmd := nvme.IdentifyCommand(nvme.CNSNamespace, nsid)
	_, err := q.Do(ctx, &cmd, buf)
	if err == nil && !bytes.Equal(buf, pattern(nsid, len(buf))) {
		err = errors.New("identify data of another command")
	}
	return err
}

func TestServeIdentify(t *testing.T) {
	for _, d := range []tcp.Digests{{}, {Header: true}, {Data: true}, {Header: true, Data: true}} {
		q, _ := pair(t, tcp.TargetConfig{}, tcp.HostConfig{HeaderDigest: d.Header, DataDigest: d.Data}, newTestHandler(), nil)
		buf := make([]byte, nvme.IdentifySize)
		for nsid := range uint32(5) {
			if err := identify(q, context.Background(), nsid+1, buf); err != nil {
				t.Fatalf("digests %+v: %v", d, err)
			}
		}
		bad := nvme.Command{Opcode: 0x55}
		var st nvme.Status
		if _, err := q.Do(context.Background(), &bad, nil); !errors.As(err, &st) || st.Code() != nvme.StatusInvalidOpcode {
			t.Fatalf("unknown opcode: %v", err)
		}
	}
}

// Connect sets the queue ID and size: completions carry that SQID and the
// submission queue head, counted modulo the queue size.
func TestServeSQHead(t *testing.T) {
	q, _ := pairUnconnected(t, tcp.TargetConfig{}, tcp.HostConfig{Depth: 4}, newTestHandler(), nil)
	ctx := context.Background()
	cmd := nvme.ConnectCommand(3, 4, 0)
	c, err := q.Do(ctx, &cmd, make([]byte, 1024))
	if err != nil || c.SQID != 3 || c.SQHead != 1 {
		t.Fatalf("Connect: %+v %v", c, err)
	}
	for _, want := range []uint16{2, 3, 0, 1, 2} {
		cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
		c, err := q.Do(ctx, &cmd, make([]byte, nvme.IdentifySize))
		if err != nil || c.SQHead != want || c.SQID != 3 {
			t.Fatalf("SQID %d SQHead %d (%v), want 3 and %d", c.SQID, c.SQHead, err, want)
		}
	}
}

// Completions leave in the order handlers finish: a command held back is
// answered after later ones, and each answer reaches its own caller.
func TestOutOfOrder(t *testing.T) {
	h := newTestHandler()
	q, _ := pair(t, tcp.TargetConfig{}, tcp.HostConfig{}, h, nil)
	held := make(chan error, 1)
	go func() { held <- identify(q, context.Background(), hangNSID, make([]byte, 4096)) }()
	buf := make([]byte, 4096)
	for nsid := range uint32(10) {
		if err := identify(q, context.Background(), nsid+1, buf); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-held:
		t.Fatalf("held command finished before release: %v", err)
	default:
	}
	close(h.release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}

// A command the controller does not answer times out; its command
// identifier stays reserved (so with one identifier, the next command
// times out waiting for it) until the late answer frees it.
func TestTimeout(t *testing.T) {
	h := newTestHandler()
	q, _ := pair(t, tcp.TargetConfig{}, tcp.HostConfig{Depth: 1, Timeout: 20 * time.Millisecond}, h, nil)
	buf := make([]byte, 4096)
	if err := identify(q, context.Background(), 1, buf); err != nil {
		t.Fatal(err)
	}
	if err := identify(q, context.Background(), hangNSID, buf); !errors.Is(err, tcp.ErrTimeout) {
		t.Fatalf("unanswered command: %v, want ErrTimeout", err)
	}
	if err := identify(q, context.Background(), 2, buf); !errors.Is(err, tcp.ErrTimeout) {
		t.Fatalf("command with its identifier still held: %v, want ErrTimeout", err)
	}
	close(h.release) // the late answer frees the identifier
	if err := identify(q, context.Background(), 3, buf); err != nil {
		t.Fatalf("after the late answer: %v", err)
	}
}

// Asynchronous Event Requests are exempt from the timeout.
func TestTimeoutSparesAsyncEvents(t *testing.T) {
	aer, hang := make(chan struct{}), make(chan struct{})
	defer close(hang)
	h := tcp.HandlerFunc(func(ctx context.Context, req *tcp.Request) tcp.Response {
		held := hang
		if req.Command.Opcode == nvme.OpAsyncEvent {
			held = aer
		}
		select {
		case <-held:
		case <-ctx.Done():
		}
		return tcp.Response{Completion: nvme.Completion{Result: 0x42}}
	})
	q, _ := pair(t, tcp.TargetConfig{}, tcp.HostConfig{Timeout: 5 * time.Millisecond}, h, nil)
	ev := nvme.Command{Opcode: nvme.OpAsyncEvent}
	call := q.Start(context.Background(), &ev, nil)
	// An unanswered command started after the request times out: the
	// sweep that expires it has seen the request past its own would-be
	// deadline too.
	cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
	if _, err := q.Do(context.Background(), &cmd, make([]byte, nvme.IdentifySize)); !errors.Is(err, tcp.ErrTimeout) {
		t.Fatalf("unanswered Identify: %v, want ErrTimeout", err)
	}
	close(aer)
	if c, err := call.Wait(context.Background()); err != nil || c.Result != 0x42 {
		t.Fatalf("asynchronous event request: %+v, %v", c, err)
	}
}

// Release gets back each response's data once it is sent, for a command
// that succeeded as for one that failed, and never before: data the
// handler scribbles on after Release never reaches the host.
func TestRelease(t *testing.T) {
	var released atomic.Int64
	h := tcp.HandlerFunc(func(ctx context.Context, req *tcp.Request) tcp.Response {
		resp := tcp.Response{Data: pattern(req.Command.NSID, nvme.IdentifySize), Release: func(b []byte) {
			clear(b[:cap(b)])
			released.Add(1)
		}}
		if req.Command.NSID == 0 {
			resp.Completion.Status = nvme.StatusInvalidNamespace
		}
		return resp
	})
	q, served := pair(t, tcp.TargetConfig{}, tcp.HostConfig{}, h, nil)
	var wg sync.WaitGroup
	for nsid := range uint32(64) {
		wg.Go(func() {
			err := identify(q, context.Background(), nsid, make([]byte, nvme.IdentifySize))
			if nsid == 0 && !errors.Is(err, nvme.StatusInvalidNamespace) || nsid != 0 && err != nil {
				t.Errorf("nsid %d: %v", nsid, err)
			}
		})
	}
	wg.Wait()
	// A response may reach the host before its Release has run; once
	// ServeTarget has returned, every handler has.
	q.Close()
	<-served
	if n := released.Load(); n != 64 {
		t.Fatalf("Release called %d times for 64 responses", n)
	}
}

// inlineHandler answers every command but those for hangNSID inline,
// counting inline calls that overlap.
type inlineHandler struct {
	*testHandler
	running, overlaps, inline atomic.Int32
}

func (h *inlineHandler) ServeNVMeInline(ctx context.Context, req *tcp.Request) (tcp.Response, bool) {
	if req.Command.NSID == hangNSID {
		return tcp.Response{}, false // served by ServeNVMe, in a goroutine
	}
	if h.running.Add(1) != 1 {
		h.overlaps.Add(1)
	}
	defer h.running.Add(-1)
	h.inline.Add(1)
	return h.testHandler.ServeNVMe(ctx, req), true
}

// Commands an InlineHandler answers inline run one at a time on the
// reading goroutine; the others still run in goroutines of their own,
// so a held command does not hold up the inline ones.
func TestInline(t *testing.T) {
	h := &inlineHandler{testHandler: newTestHandler()}
	q, _ := pair(t, tcp.TargetConfig{}, tcp.HostConfig{Depth: 64}, h, nil)
	held := make(chan error, 1)
	go func() { held <- identify(q, context.Background(), hangNSID, make([]byte, 4096)) }()
	identifyAll(t, q, 60)
	if n := h.overlaps.Load(); n != 0 {
		t.Errorf("%d inline handler calls overlapped another", n)
	}
	if n := h.inline.Load(); n < 60 {
		t.Errorf("%d commands served inline, want at least the 60 identified", n)
	}
	close(h.release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}

// One goroutine can have many commands in flight with Start, and each
// Wait gets its own command's data; a Call Start did not return is an
// error, not a hang.
func TestStart(t *testing.T) {
	q, _ := pair(t, tcp.TargetConfig{}, tcp.HostConfig{Depth: 8}, newTestHandler(), nil)
	const n = 20 // more than the depth: Start waits for identifiers
	calls := make([]tcp.Call, 0, n)
	bufs := make([][]byte, n)
	for i := range n {
		bufs[i] = make([]byte, nvme.IdentifySize)
		cmd := nvme.IdentifyCommand(nvme.CNSNamespace, uint32(i+1))
		calls = append(calls, q.Start(context.Background(), &cmd, bufs[i]))
		if i >= 7 { // keep at most 8 in flight
			if _, err := calls[i-7].Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range calls[n-7:] {
		if _, err := c.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range bufs {
		if !bytes.Equal(b, pattern(uint32(i+1), len(b))) {
			t.Fatalf("command %d got another command's data", i+1)
		}
	}
	if _, err := (tcp.Call{}).Wait(context.Background()); err == nil {
		t.Fatal("Wait on a zero Call succeeded")
	}
}

// Thousands of commands from many goroutines, digests on.
func TestManyConcurrent(t *testing.T) {
	q, _ := pair(t, tcp.TargetConfig{}, tcp.HostConfig{Depth: 64, HeaderDigest: true, DataDigest: true}, newTestHandler(), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range uint32(100) {
		wg.Go(func() {
			buf := make([]byte, nvme.IdentifySize)
			for range 30 {
				if err := identify(q, context.Background(), g+1, buf); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Large writes go through R2T and several H2CData PDUs (MAXH2CDATA 8 KiB);
// large reads come back in several C2HData PDUs.
func TestLargeTransfers(t *testing.T) {
	for _, digests := range []bool{false, true} {
		tcfg := tcp.TargetConfig{MaxH2CData: 8192, MaxC2HData: 4096}
		q, _ := pair(t, tcfg, tcp.HostConfig{HeaderDigest: digests, DataDigest: digests}, newTestHandler(), nil)
		ctx := context.Background()
		for i, size := range []int{512, 8192, 8193, 256 << 10} {
			want := pattern(uint32(i), size)
			w := nvme.Command{Opcode: nvme.OpWrite, NSID: 1, CDW10: uint32(i)}
			if _, err := q.Do(ctx, &w, want); err != nil {
				t.Fatalf("write of %d bytes: %v", size, err)
			}
			got := make([]byte, size)
			r := nvme.Command{Opcode: nvme.OpRead, NSID: 1, CDW10: uint32(i)}
			if _, err := q.Do(ctx, &r, got); err != nil {
				t.Fatalf("read of %d bytes: %v", size, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes read back differ", size)
			}
		}
	}
}

// A command whose caller gives up returns ctx's error while the others
// proceed; its CID is not reused until the controller answers.
func TestCancelOne(t *testing.T) {
	h := newTestHandler()
	q, _ := pair(t, tcp.TargetConfig{}, tcp.HostConfig{Depth: 2}, h, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- identify(q, ctx, hangNSID, make([]byte, 4096)) }()
	buf := make([]byte, 4096)
	if err := identify(q, context.Background(), 1, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled command: %v", err)
	}
	// One CID is held by the abandoned command: the other one serves.
	for nsid := range uint32(20) {
		if err := identify(q, context.Background(), nsid+1, buf); err != nil {
			t.Fatal(err)
		}
	}
	close(h.release) // the abandoned command is answered; its CID frees
	identifyAll(t, q, 2)
}

// Fault knobs: a malformed PDU is a protocol error for the host, which
// answers with a H2CTermReq; a dropped connection fails outstanding
// commands.
func TestTargetFaults(t *testing.T) {
	t.Run("Malformed", func(t *testing.T) {
		// The Connect's response is the first of the 4 good ones.
		q, served := pair(t, tcp.TargetConfig{MalformedAfter: 4}, tcp.HostConfig{}, newTestHandler(), nil)
		buf := make([]byte, 4096)
		for nsid := range uint32(3) {
			if err := identify(q, context.Background(), nsid+1, buf); err != nil {
				t.Fatal(err)
			}
		}
		err := identify(q, context.Background(), 1, buf)
		var te *tcp.TermError
		if !errors.As(err, &te) || te.FES != tcp.FESInvalidHeader || te.Offset != 2 || te.Remote {
			t.Fatalf("after a malformed PDU: %v", err)
		}
		<-q.Done()
		if !errors.As(q.Err(), &te) {
			t.Fatalf("Err() = %v", q.Err())
		}
		// The target reads the host's H2CTermReq.
		if err := <-served; !errors.As(err, &te) || !te.Remote || te.FES != tcp.FESInvalidHeader {
			t.Fatalf("target saw %v, want the host's TermReq", err)
		}
	})
	t.Run("Drop", func(t *testing.T) {
		h := newTestHandler()
		q, served := pair(t, tcp.TargetConfig{DropAfter: 4}, tcp.HostConfig{}, h, nil)
		errc := make(chan error, 3)
		for range 3 {
			go func() { errc <- identify(q, context.Background(), hangNSID, make([]byte, 4096)) }()
		}
		err := identify(q, context.Background(), 1, make([]byte, 4096)) // 4th command: accepted
		if err != nil && !errors.Is(err, tcp.ErrClosed) {
			var te *tcp.TermError
			if errors.As(err, &te) {
				t.Fatalf("dropped connection reported as %v", err)
			}
		}
		cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
		q.Do(context.Background(), &cmd, make([]byte, 4096)) // 5th: dropped
		for range 3 {
			if err := <-errc; err == nil || errors.Is(err, context.Canceled) {
				t.Fatalf("outstanding command on a dropped connection: %v", err)
			}
		}
		if err := <-served; !errors.Is(err, tcp.ErrDropped) {
			t.Fatalf("ServeTarget: %v", err)
		}
	})
}

// appendConnect appends the Connect capsule of an admin queue to b.
func appendConnect(b []byte) []byte {
	cmd := nvme.ConnectCommand(0, 32, 0)
	cmd.SetSGL(nvme.SGL{Length: nvme.ConnectDataSize, Type: nvme.SGLDataBlockOffset})
	cd := nvme.ConnectData{CNTLID: nvme.DynamicController, SubsystemNQN: "nqn.test:sub", HostNQN: "nqn.test:host"}
	data, _ := cd.AppendBinary(nil)
	return tcp.Digests{}.AppendCapsuleCmd(b, &cmd, data)
}

// A host that breaks the protocol gets a C2HTermReq.
func TestTargetRejectsHost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tests := []struct {
		name string
		send func(c net.Conn)
		fes  tcp.FES
	}{
		{"NotICReq", func(c net.Conn) { c.Write(tcp.Digests{}.AppendCapsuleResp(nil, &nvme.Completion{})) }, tcp.FESSequence},
		{"HPDA", func(c net.Conn) { c.Write(tcp.AppendICReq(nil, tcp.ICReq{HPDA: 1})) }, tcp.FESUnsupportedParams},
		{"UnknownH2CData", func(c net.Conn) {
			b := tcp.AppendICReq(nil, tcp.ICReq{})
			b = tcp.Digests{}.AppendData(b, tcp.TypeH2CData, tcp.FlagDataLast, tcp.DataHeader{CID: 1, TTag: 5}, make([]byte, 8))
			c.Write(b)
		}, tcp.FESInvalidHeader},
		{"TooManyWritesWaiting", func(c net.Conn) {
			b := appendConnect(tcp.AppendICReq(nil, tcp.ICReq{}))
			cmd := nvme.Command{Opcode: nvme.OpWrite, NSID: 1}
			cmd.SetSGL(nvme.SGL{Length: 4096, Type: nvme.SGLTransportDataBlock})
			for i := range 129 {
				cmd.CID = uint16(i)
				b = tcp.Digests{}.AppendCapsuleCmd(b, &cmd, nil)
			}
			go c.Write(b)
			io.ReadFull(c, make([]byte, 128+24+128*24)) // ICResp, Connect's response and 128 R2Ts

		}, tcp.FESDataLimit},
		{"LyingPLen", func(c net.Conn) {
			b := tcp.AppendICReq(nil, tcp.ICReq{})
			c.Write(append(b, byte(tcp.TypeCapsuleCmd), 0, 72, 72, 0xff, 0xff, 0xff, 0x0f))
		}, tcp.FESInvalidHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			served := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					served <- err
					return
				}
				served <- tcp.ServeTarget(context.Background(), c, tcp.TargetConfig{}, acceptConnect(newTestHandler()))
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tt.send(c)
			err = <-served
			var te *tcp.TermError
			if !errors.As(err, &te) || te.FES != tt.fes {
				t.Fatalf("ServeTarget: %v, want FES %v", err, tt.fes)
			}
			r := tcp.NewReader(c, 4096)
			for {
				p, err := r.Next()
				if err != nil {
					t.Fatalf("no C2HTermReq: %v", err)
				}
				if p.Type == tcp.TypeC2HTermReq {
					if got := tcp.ParseTermReq(p); got.FES != tt.fes {
						t.Fatalf("C2HTermReq FES %v, want %v", got.FES, tt.fes)
					}
					return
				}
			}
		})
	}
}

// With MaxOutstanding commands executing, ServeTarget reads no more: no
// more handlers start until one returns.
func TestBackPressure(t *testing.T) {
	const limit = 2
	var (
		mu               sync.Mutex
		running, maxSeen int
	)
	started := make(chan struct{}, 8)
	tokens := make(chan struct{}, 8)
	h := tcp.HandlerFunc(func(ctx context.Context, req *tcp.Request) tcp.Response {
		mu.Lock()
		running++
		maxSeen = max(maxSeen, running)
		mu.Unlock()
		started <- struct{}{}
		<-tokens
		mu.Lock()
		running--
		mu.Unlock()
		return tcp.Response{}
	})
	q, _ := pair(t, tcp.TargetConfig{MaxOutstanding: limit}, tcp.HostConfig{Depth: 8}, h, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			cmd := nvme.Command{Opcode: nvme.OpFlush, NSID: 1}
			if _, err := q.Do(context.Background(), &cmd, nil); err != nil {
				t.Error(err)
			}
		})
	}
	for range limit {
		<-started
	}
	for range 8 {
		tokens <- struct{}{}
	}
	wg.Wait()
	if maxSeen != limit {
		t.Fatalf("%d handlers ran at once, want %d", maxSeen, limit)
	}
}

// ServeTarget returns ctx's error, with no goroutine left, when ctx is
// cancelled while handlers run.
func TestServeTargetCancel(t *testing.T) {
	h := newTestHandler()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, served := dialTarget(t, ctx, tcp.TargetConfig{}, acceptConnect(h))
	q, err := tcp.NewHostQueue(context.Background(), conn, tcp.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := connectQueue(q); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- identify(q, context.Background(), hangNSID, make([]byte, 4096)) }()
	if err := identify(q, context.Background(), 1, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-served; !errors.Is(err, context.Canceled) {
		t.Fatalf("ServeTarget: %v", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("command outstanding at shutdown succeeded")
	}
}

// BenchmarkQueuePairIdentify4K runs Identify (4 KiB of data) at queue
// depth 32 over loopback against ServeTarget.
func BenchmarkQueuePairIdentify4K(b *testing.B) {
	q, _ := pair(b, tcp.TargetConfig{}, tcp.HostConfig{Depth: 32}, HandlerIdentify, nil)
	b.SetParallelism(16) // 32 goroutines on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, nvme.IdentifySize)
		for pb.Next() {
			cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
			if _, err := q.Do(context.Background(), &cmd, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

var identifyData = pattern(0, nvme.IdentifySize)

// HandlerIdentify answers every command with the same 4 KiB.
var HandlerIdentify = tcp.HandlerFunc(func(ctx context.Context, req *tcp.Request) tcp.Response {
	return tcp.Response{Data: identifyData}
})

// BenchmarkPipelining sends 10 × Q commands at queue depth Q over a link
// with a 15 ms round trip: pipelined, they take about 10 round trips.
func BenchmarkPipelining(b *testing.B) {
	const depth, rtt = 32, 15 * time.Millisecond
	wrap := func(c net.Conn) net.Conn { return netem.Wrap(c, netem.Link{Delay: rtt / 2}) }
	q, _ := pair(b, tcp.TargetConfig{}, tcp.HostConfig{Depth: depth}, HandlerIdentify, wrap)
	for b.Loop() {
		var wg sync.WaitGroup
		for range depth {
			wg.Go(func() {
				buf := make([]byte, nvme.IdentifySize)
				for range 10 {
					cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
					if _, err := q.Do(context.Background(), &cmd, buf); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	perRun := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(perRun)/float64(10*rtt), "×10RTT")
}
