package tcp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/nvme/tcp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startTarget serves an emulated subsystem on 127.0.0.1:0.
func startTarget(t testing.TB, cfg target.Config) (*target.Target, string) {
	t.Helper()
	tg := target.New(cfg)
	addr, err := tg.Start(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg, addr
}

// adminQueue connects an admin queue to the subsystem at addr and enables
// the controller.
func adminQueue(t testing.TB, addr string, cfg tcp.HostConfig) *tcp.HostQueue {
	t.Helper()
	ctx := context.Background()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	q, err := tcp.NewHostQueue(ctx, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	cmd := nvme.ConnectCommand(0, uint16(q.Depth()), 0)
	cd := nvme.ConnectData{CNTLID: nvme.DynamicController, SubsystemNQN: target.DefaultNQN, HostNQN: "nqn.2014-08.org.nvmexpress:uuid:test"}
	data, _ := cd.AppendBinary(nil)
	if _, err := q.Do(ctx, &cmd, data); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	cc := nvme.PropertySetCommand(nvme.PropCC, nvme.CCEnable|nvme.CCIOSQES|nvme.CCIOCQES)
	if _, err := q.Do(ctx, &cc, nil); err != nil {
		t.Fatalf("Property Set CC: %v", err)
	}
	return q
}

func TestConnectIdentify(t *testing.T) {
	for _, digests := range []bool{false, true} {
		_, addr := startTarget(t, target.Config{Namespaces: 4})
		q := adminQueue(t, addr, tcp.HostConfig{HeaderDigest: digests, DataDigest: digests})
		ctx := context.Background()
		get := nvme.PropertyGetCommand(nvme.PropCAP, 8)
		c, err := q.Do(ctx, &get, nil)
		if err != nil || nvme.CAPMQES(c.Result) != target.DefaultQueueDepth-1 {
			t.Fatalf("CAP = %#x, %v; want MQES %d", c.Result, err, target.DefaultQueueDepth-1)
		}
		buf := make([]byte, nvme.IdentifySize)
		id := nvme.IdentifyCommand(nvme.CNSController, 0)
		if _, err := q.Do(ctx, &id, buf); err != nil {
			t.Fatal(err)
		}
		var ic nvme.IdentifyController
		if err := ic.UnmarshalBinary(buf); err != nil || ic.SubNQN != target.DefaultNQN || ic.NN < 4 {
			t.Fatalf("Identify Controller: SubNQN %q NN %d err %v", ic.SubNQN, ic.NN, err)
		}
		list := nvme.IdentifyCommand(nvme.CNSActiveNamespaces, 0)
		if _, err := q.Do(ctx, &list, buf); err != nil {
			t.Fatal(err)
		}
		if got := nvme.ParseNSIDList(nil, buf); len(got) != 4 || got[0] != 1 || got[3] != 4 {
			t.Fatalf("active NSIDs = %v, want [1 2 3 4]", got)
		}
		bad := nvme.IdentifyCommand(nvme.CNSNamespace, 5000) // beyond NN
		_, err = q.Do(ctx, &bad, buf)
		var st nvme.Status
		if !errors.As(err, &st) || st.Code() != nvme.StatusInvalidNamespace {
			t.Fatalf("Identify of NSID 5000: %v, want %v", err, nvme.StatusInvalidNamespace)
		}
	}
}

// Many commands in flight at once, from many goroutines: every answer
// reaches the command that asked.
func TestConcurrentCommands(t *testing.T) {
	_, addr := startTarget(t, target.Config{Namespaces: 64})
	q := adminQueue(t, addr, tcp.HostConfig{HeaderDigest: true, DataDigest: true})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for nsid := uint32(1); nsid <= 64; nsid++ {
		wg.Go(func() {
			buf := make([]byte, nvme.IdentifySize)
			for range 20 {
				cmd := nvme.IdentifyCommand(nvme.CNSNSDescriptors, nsid)
				if _, err := q.Do(context.Background(), &cmd, buf); err != nil {
					errs <- err
					return
				}
				var ids nvme.NSIdentifiers
				if err := ids.UnmarshalBinary(buf); err != nil {
					errs <- err
					return
				}
				var ns nvme.IdentifyNamespace
				cmd = nvme.IdentifyCommand(nvme.CNSNamespace, nsid)
				if _, err := q.Do(context.Background(), &cmd, buf); err != nil {
					errs <- err
					return
				}
				ns.UnmarshalBinary(buf)
				if ns.NGUID != ids.NGUID || ns.NSZE == 0 {
					errs <- errors.New("identify data of another namespace")
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

// I/O: a large write goes through R2T/H2CData, a large read comes back in
// C2HData PDUs.
func TestLargeWriteRead(t *testing.T) {
	tg, addr := startTarget(t, target.Config{Namespaces: 1})
	q := adminQueue(t, addr, tcp.HostConfig{})
	ctx := context.Background()
	id := nvme.IdentifyCommand(nvme.CNSController, 0)
	buf := make([]byte, nvme.IdentifySize)
	if _, err := q.Do(ctx, &id, buf); err != nil {
		t.Fatal(err)
	}
	var ic nvme.IdentifyController
	ic.UnmarshalBinary(buf)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io, err := tcp.NewHostQueue(ctx, conn, tcp.HostConfig{DataDigest: true, HeaderDigest: true})
	if err != nil {
		t.Fatal(err)
	}
	defer io.Close()
	cmd := nvme.ConnectCommand(1, 32, 0)
	cd := nvme.ConnectData{CNTLID: ic.CNTLID, SubsystemNQN: target.DefaultNQN, HostNQN: "nqn.2014-08.org.nvmexpress:uuid:test"}
	data, _ := cd.AppendBinary(nil)
	if _, err := io.Do(ctx, &cmd, data); err != nil {
		t.Fatalf("I/O Connect: %v", err)
	}
	const size = 256 << 10
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i * 7)
	}
	w := nvme.Command{Opcode: nvme.OpWrite, NSID: 1, CDW10: 8, CDW12: size/512 - 1}
	if _, err := io.Do(ctx, &w, want); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got := make([]byte, size)
	r := nvme.Command{Opcode: nvme.OpRead, NSID: 1, CDW10: 8, CDW12: size/512 - 1}
	if _, err := io.Do(ctx, &r, got); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("read data differ from written data")
	}
	check := make([]byte, 512)
	if err := tg.ReadAt(1, check, 8*512); err != nil || !bytes.Equal(check, want[:512]) {
		t.Fatalf("target holds other data at LBA 8: %v", err)
	}
}

// A command whose caller gives up returns ctx's error; its identifier is
// not reused until the controller answers, and other commands proceed.
func TestCancelOneCommand(t *testing.T) {
	tg, addr := startTarget(t, target.Config{Namespaces: 2})
	tg.SetFaults(target.Faults{Hang: map[uint32]bool{2: true}})
	q := adminQueue(t, addr, tcp.HostConfig{Depth: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	buf := make([]byte, nvme.IdentifySize)
	hang := nvme.IdentifyCommand(nvme.CNSNamespace, 2)
	if _, err := q.Do(ctx, &hang, buf); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Identify of a hung namespace: %v, want DeadlineExceeded", err)
	}
	for range 10 {
		ok := nvme.IdentifyCommand(nvme.CNSNamespace, 1)
		if _, err := q.Do(context.Background(), &ok, buf); err != nil {
			t.Fatalf("Identify after a cancelled command: %v", err)
		}
	}
}

// A controller that vanishes fails every outstanding command with a
// transport error, and the queue stops.
func TestPeerVanishes(t *testing.T) {
	tg, addr := startTarget(t, target.Config{Namespaces: 2})
	tg.SetFaults(target.Faults{Hang: map[uint32]bool{2: true}})
	q := adminQueue(t, addr, tcp.HostConfig{})
	errc := make(chan error)
	for range 3 {
		go func() {
			cmd := nvme.IdentifyCommand(nvme.CNSNamespace, 2)
			_, err := q.Do(context.Background(), &cmd, make([]byte, nvme.IdentifySize))
			errc <- err
		}()
	}
	tg.Close()
	for range 3 {
		if err := <-errc; err == nil || errors.Is(err, context.Canceled) {
			t.Fatalf("outstanding command on a lost connection: %v", err)
		}
	}
	<-q.Done()
	if q.Err() == nil {
		t.Fatal("Err() = nil after the connection was lost")
	}
}

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

func BenchmarkIdentifyDepth32(b *testing.B) {
	_, addr := startTarget(b, target.Config{Namespaces: 1})
	q := adminQueue(b, addr, tcp.HostConfig{Depth: 32})
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, nvme.IdentifySize)
		for pb.Next() {
			cmd := nvme.IdentifyCommand(nvme.CNSNamespace, 1)
			if _, err := q.Do(context.Background(), &cmd, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// BenchmarkPipelining sends 10 × Q commands at queue depth Q over a link
// with a 15 ms round trip: pipelined, they take about 10 round trips.
func BenchmarkPipelining(b *testing.B) {
	const q, rtt = 32, 15 * time.Millisecond
	_, addr := startTarget(b, target.Config{Namespaces: 1, Delay: rtt / 2})
	hq := adminQueue(b, addr, tcp.HostConfig{Depth: q})
	for b.Loop() {
		var wg sync.WaitGroup
		for range q {
			wg.Go(func() {
				buf := make([]byte, nvme.IdentifySize)
				for range 10 {
					cmd := nvme.IdentifyCommand(nvme.CNSNamespace, 1)
					if _, err := hq.Do(context.Background(), &cmd, buf); err != nil {
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
