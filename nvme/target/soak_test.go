package target

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/tcp"
)

// Targets of BenchmarkSoak: the target's resident memory stays below
// idle + soakPeak while hostile hosts hammer it, and comes back within
// idle + soakAfter once they stopped.
const (
	soakConns   = 10000
	soakWorkers = 120 // hostile connections at once, below the 128 per host
	soakPeak    = 64 << 20
	soakAfter   = 16 << 20
	hostileIP   = "127.0.0.2" // the hostile hosts' source address; scans come from 127.0.0.1
)

// rss returns the process's resident set size in bytes.
func rss(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Skip("no /proc/self/statm:", err)
	}
	f := bytes.Fields(b)
	pages, _ := strconv.ParseInt(string(f[1]), 10, 64)
	return pages * int64(os.Getpagesize())
}

// BenchmarkSoak runs soakConns hostile connections, soakWorkers at a
// time from 127.0.0.2, against one target with the default limits (but
// a connect time-out of 3 s and a data time-out of 1 s, to keep it
// short), while normal
// scans of the target run from 127.0.0.1. It fails if a scan fails, if
// the process's RSS rises more than soakPeak above idle, or if it does
// not come back within soakAfter of idle in 30 s.
//
//	go test -run '^$' -bench Soak -benchtime 1x ./nvme/target
func BenchmarkSoak(b *testing.B) {
	for b.Loop() {
		soak(b)
	}
}

func soak(b *testing.B) {
	var log logBuffer // warnings about the normal hosts, to explain a failed scan
	tg := newTarget(b, Config{Namespaces: 32, Limits: Limits{ConnectTimeout: 3 * time.Second, DataTimeout: time.Second},
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	defer tg.Close()
	addr, err := tg.Start(context.Background(), "")
	if err != nil {
		b.Fatal(err)
	}
	scanOnce := func() error {
		c, err := host.Connect(context.Background(), addr, host.Config{SubsystemNQN: tg.NQN()})
		if err != nil {
			return err
		}
		defer c.Close()
		res, err := (&scan.Scanner{Ctrl: c}).Scan(context.Background())
		if err == nil && len(res.Added) != 32 {
			err = errors.New("scan found " + strconv.Itoa(len(res.Added)) + " namespaces, want 32")
		}
		return err
	}
	if err := scanOnce(); err != nil { // warm up
		b.Fatal(err)
	}
	runtime.GC()
	idle := rss(b)

	// Sample RSS.
	var peak atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			peak.Store(max(peak.Load(), rss(b)))
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()

	// Normal scans, until the hostile hosts are done.
	var scans, failed atomic.Int64
	var firstErr atomic.Value
	hostileDone := make(chan struct{})
	scansDone := make(chan struct{})
	go func() {
		defer close(scansDone)
		for {
			if err := scanOnce(); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
			scans.Add(1)
			select {
			case <-hostileDone:
				return
			default:
			}
		}
	}()

	// The hostile hosts' controller, for the kinds that need an I/O queue:
	// its 16 I/O queue IDs are handed out to one connection at a time.
	ctrl, err := hostileController(addr, tg.NQN())
	if err != nil {
		b.Fatal(err)
	}
	qids := make(chan uint16, 16)
	for id := range uint16(16) {
		qids <- id + 1
	}
	start := time.Now()
	next := make(chan int)
	var wg sync.WaitGroup
	for range soakWorkers {
		wg.Go(func() {
			for i := range next {
				soakKinds[i%len(soakKinds)](addr, tg.NQN(), ctrl.cntlid, qids)
			}
		})
	}
	for i := range soakConns {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	ctrl.q.Close()
	close(hostileDone)
	<-scansDone
	close(stopSampling)
	<-sampled

	// Memory given back: two collections (an idle Go program has one
	// every two minutes; the second empties the buffer pools) and the
	// runtime's background scavenger, no forced release.
	runtime.GC()
	runtime.GC()
	var after int64
	back := time.Now()
	for after = rss(b); after > idle+soakAfter && time.Since(back) < 30*time.Second; after = rss(b) {
		time.Sleep(100 * time.Millisecond) // measuring, not synchronising: the scavenger runs on its own
	}
	b.ReportMetric(float64(soakConns)/elapsed.Seconds(), "hostile-conns/s")
	b.ReportMetric(float64(peak.Load()-idle)/(1<<20), "peak-MiB-above-idle")
	b.ReportMetric(float64(after-idle)/(1<<20), "after-MiB-above-idle")
	b.ReportMetric(time.Since(back).Seconds(), "s-to-give-back")
	b.ReportMetric(float64(scans.Load()), "scans")
	b.Logf("idle RSS %d MiB, peak %d MiB, after %d MiB; %d scans, %d failed; %d hostile connections in %v",
		idle>>20, peak.Load()>>20, after>>20, scans.Load(), failed.Load(), soakConns, elapsed.Round(time.Millisecond))
	if n := failed.Load(); n > 0 {
		b.Errorf("%d of %d scans failed, first: %v", n, scans.Load(), firstErr.Load())
		for _, l := range strings.Split(log.String(), "\n") {
			if strings.Contains(l, "127.0.0.1:") {
				b.Log(l)
			}
		}
	}
	if p := peak.Load() - idle; p > soakPeak {
		b.Errorf("RSS rose %d MiB above idle, limit %d MiB", p>>20, soakPeak>>20)
	}
	if a := after - idle; a > soakAfter {
		b.Errorf("RSS still %d MiB above idle after the soak, limit %d MiB", a>>20, soakAfter>>20)
	}
}

// hostileCtrl is an enabled controller the hostile I/O queues join.
type hostileCtrl struct {
	q      *tcp.HostQueue
	cntlid uint16
}

func hostileController(addr, nqn string) (*hostileCtrl, error) {
	nc, err := soakDial(addr)
	if err != nil {
		return nil, err
	}
	q, err := tcp.NewHostQueue(context.Background(), nc, tcp.HostConfig{})
	if err != nil {
		return nil, err
	}
	c, err := connect(q, 0, nvme.DynamicController, nqn, 0)
	if err == nil {
		err = propSet(q, nvme.PropCC, ccEnable)
	}
	if err != nil {
		q.Close()
		return nil, err
	}
	return &hostileCtrl{q: q, cntlid: uint16(c.Result)}, nil
}

func soakDial(addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(hostileIP)}}
	return d.Dial("tcp", addr)
}

// drain reads from c until the target closes it (or 5 s pass), then
// closes it.
func drain(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	c.Close()
}

var dg tcp.Digests

func soakICReq() []byte { return tcp.AppendICReq(nil, tcp.ICReq{}) }

// The hostile hosts' PDUs, built once: the soak measures the target's
// memory, in the same process.
var (
	soakUnconnectedWrites = func() []byte {
		b := soakWrites(soakICReq(), 64)
		for off := 0; off < 896<<10; off += 128 << 10 {
			b = dg.AppendData(b, tcp.TypeH2CData, 0, tcp.DataHeader{TTag: 1, Offset: uint32(off)}, make([]byte, 128<<10))
		}
		return b
	}()
	soakRejectedConnect = func() []byte {
		cmd := connectCmd(0, 0xffff, 0)
		cmd.SetSGL(nvme.SGL{Length: nvme.ConnectDataSize, Type: nvme.SGLDataBlockOffset})
		b := dg.AppendCapsuleCmd(soakICReq(), cmd, connectDataBytes(nvme.DynamicController, DefaultNQN, testHostNQN))
		return soakWrites(b, 64)
	}()
	soakBad = [][]byte{
		append(soakICReq(), soakICReq()...),
		append(soakICReq(), byte(tcp.TypeCapsuleCmd), 0, 99, 0, 72, 0, 0, 0),
		append(soakICReq(), 0x0f, 0, 8, 0, 8, 0, 0, 0),
		dg.AppendData(soakICReq(), tcp.TypeH2CData, tcp.FlagDataLast, tcp.DataHeader{TTag: 7}, make([]byte, 512)),
	}
	soakR2TWrites = soakWrites(nil, 8)
	soakReads     = func() []byte {
		var b []byte
		for i := range 32 {
			cmd := readCmd(1, uint64(i)*2048, 2048)
			cmd.CID = uint16(i)
			cmd.SetSGL(nvme.SGL{Length: 1 << 20, Type: nvme.SGLTransportDataBlock})
			b = dg.AppendCapsuleCmd(b, cmd, nil)
		}
		return b
	}()
)

// soakWrites appends n write capsules of 1 MiB whose data comes by R2T.
func soakWrites(b []byte, n int) []byte {
	for i := range n {
		b = dg.AppendCapsuleCmd(b, transportWrite(uint16(i), uint64(i)*2048, 2048), nil)
	}
	return b
}

// soakIOQueue connects c as an I/O queue of the hostile controller and
// returns its reader, or false.
func soakIOQueue(c net.Conn, nqn string, cntlid, qid uint16) (*tcp.Reader, bool) {
	r := tcp.NewReader(c, 0)
	b := soakICReq()
	cmd := connectCmd(qid, 31, 0)
	cmd.SetSGL(nvme.SGL{Length: nvme.ConnectDataSize, Type: nvme.SGLDataBlockOffset})
	b = dg.AppendCapsuleCmd(b, cmd, connectDataBytes(cntlid, nqn, testHostNQN))
	if _, err := c.Write(b); err != nil {
		return nil, false
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range 2 { // ICResp, then the Connect's response
		p, err := r.Next()
		if err != nil {
			return nil, false
		}
		if p.Type == tcp.TypeCapsuleRsp {
			var cpl nvme.Completion
			cpl.UnmarshalBinary(p.Specific)
			return r, cpl.Status == 0
		}
	}
	return nil, false
}

// soakKinds are the hostile connections of the soak, in rotation.
var soakKinds = []func(addr, nqn string, cntlid uint16, qids chan uint16){
	// Connects and says nothing: closed at the connect time-out.
	func(addr, nqn string, cntlid uint16, qids chan uint16) {
		if c, err := soakDial(addr); err == nil {
			drain(c)
		}
	},
	// Part of an ICReq: closed at the connect time-out.
	func(addr, nqn string, cntlid uint16, qids chan uint16) {
		if c, err := soakDial(addr); err == nil {
			c.Write(soakICReq()[:10])
			drain(c)
		}
	},
	// 64 writes of 1 MiB and 896 KiB of data, no Connect.
	func(addr, nqn string, cntlid uint16, qids chan uint16) {
		c, err := soakDial(addr)
		if err != nil {
			return
		}
		go c.Write(soakUnconnectedWrites)
		drain(c)
	},
	// A Connect with SQSIZE FFFFh, then writes.
	func(addr, nqn string, cntlid uint16, qids chan uint16) {
		c, err := soakDial(addr)
		if err != nil {
			return
		}
		go c.Write(soakRejectedConnect)
		drain(c)
	},
	// Malformed PDUs after ICReq: a second ICReq, a bad HLEN, an unknown
	// type, data for an unknown transfer tag.
	func(addr, nqn string, cntlid uint16, qids chan uint16) {
		c, err := soakDial(addr)
		if err != nil {
			return
		}
		c.Write(soakBad[int(time.Now().UnixNano()/1000)%len(soakBad)])
		drain(c)
	},
	// An I/O queue whose writes get R2Ts but never their data: the write
	// budgets fill, the data time-out ends it.
	func(addr, nqn string, cntlid uint16, qids chan uint16) {
		qid := <-qids
		defer func() { qids <- qid }()
		c, err := soakDial(addr)
		if err != nil {
			return
		}
		if _, ok := soakIOQueue(c, nqn, cntlid, qid); !ok {
			c.Close()
			return
		}
		c.Write(soakR2TWrites)
		drain(c)
	},
	// An I/O queue that asks for 32 MiB of reads and reads nothing back.
	func(addr, nqn string, cntlid uint16, qids chan uint16) {
		qid := <-qids
		defer func() { qids <- qid }()
		c, err := soakDial(addr)
		if err != nil {
			return
		}
		if _, ok := soakIOQueue(c, nqn, cntlid, qid); !ok {
			c.Close()
			return
		}
		c.Write(soakReads)
		c.Close()
	},
	// A burst of connections beyond the per-host limit.
	func(addr, nqn string, cntlid uint16, qids chan uint16) {
		var cs []net.Conn
		for range 16 {
			if c, err := soakDial(addr); err == nil {
				cs = append(cs, c)
			}
		}
		for _, c := range cs {
			c.Close()
		}
	},
}
