package scan_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/complchain/complchain/internal/netem"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/tcp"
)

// pageHandler answers every command, inline, with one fixed page: the
// NVMe/TCP framing and no NVMe work.
type pageHandler struct{ page []byte }

func (h pageHandler) ServeNVMe(ctx context.Context, req *tcp.Request) tcp.Response {
	r, _ := h.ServeNVMeInline(ctx, req)
	return r
}

func (h pageHandler) ServeNVMeInline(ctx context.Context, req *tcp.Request) (tcp.Response, bool) {
	if req.Command.Opcode == nvme.OpFabrics {
		return tcp.Response{Completion: nvme.Completion{Result: 1}}, true // Connect: CNTLID 1
	}
	return tcp.Response{Data: h.page}, true
}

// framing moves a scan's commands and data, as Floor does (per list page
// one Identify, then two per NSID of the page, at most q outstanding),
// through a tcp.HostQueue and tcp.ServeTarget over the same emulated
// link, the target answering every command with the same page: what the
// NVMe/TCP framing costs both ends, with no NVMe work and no scan.
type framing struct {
	q    *tcp.HostQueue
	n    int
	stop func()
}

func newFraming(tb testing.TB, rtt time.Duration, n, q int) *framing {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		if rtt > 0 {
			c = netem.Wrap(c, netem.Link{Delay: rtt / 2})
		}
		tcp.ServeTarget(ctx, c, tcp.TargetConfig{MaxOutstanding: 2 * (q + 1)}, pageHandler{make([]byte, nvme.IdentifySize)})
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	hq, err := tcp.NewHostQueue(ctx, conn, tcp.HostConfig{Depth: q})
	if err != nil {
		tb.Fatal(err)
	}
	cmd := nvme.ConnectCommand(0, uint16(q), 0)
	cd := nvme.ConnectData{CNTLID: nvme.DynamicController, SubsystemNQN: "nqn.test:framing", HostNQN: "nqn.test:host"}
	data, _ := cd.AppendBinary(nil)
	if _, err := hq.Do(ctx, &cmd, data); err != nil {
		tb.Fatal(err)
	}
	return &framing{q: hq, n: n, stop: func() { hq.Close(); cancel(); <-served }}
}

// run moves the bytes of one scan.
func (f *framing) run(ctx context.Context) error {
	calls := make(chan tcp.Call, f.q.Depth())
	waited := make(chan error, 1)
	go func() {
		var err error
		for c := range calls {
			if _, werr := c.Wait(ctx); err == nil {
				err = werr
			}
		}
		waited <- err
	}()
	page, cmdPage := make([]byte, nvme.IdentifySize), make([]byte, nvme.IdentifySize)
	for p := 0; p*nvme.NSIDsPerList < max(f.n, 1); p++ {
		cmd := nvme.IdentifyCommand(nvme.CNSActiveNamespaces, uint32(p*nvme.NSIDsPerList))
		if _, err := f.q.Do(ctx, &cmd, page); err != nil {
			close(calls)
			<-waited
			return err
		}
		for range min(nvme.NSIDsPerList, f.n-p*nvme.NSIDsPerList) * 2 {
			cmd := nvme.IdentifyCommand(nvme.CNSNamespace, 1)
			calls <- f.q.Start(ctx, &cmd, cmdPage) // the data is not read: one page will do
		}
	}
	close(calls)
	return <-waited
}

// BenchmarkFraming measures what the NVMe/TCP framing costs a scan's
// traffic with no NVMe work: beside BenchmarkFloor (the bytes alone) and
// BenchmarkScan, it tells how much of the scan's distance from the floor
// the protocol itself takes.
func BenchmarkFraming(b *testing.B) {
	for _, c := range []struct {
		rtt time.Duration
		n   []int
	}{
		{0, []int{100, 1000, 10000}},
		{200 * time.Microsecond, []int{100, 1000, 10000}},
		{15 * time.Millisecond, []int{100}},
	} {
		for _, n := range c.n {
			b.Run(fmt.Sprintf("RTT=%v/N=%d", c.rtt, n), func(b *testing.B) {
				f := newFraming(b, c.rtt, n, 1023)
				defer f.stop()
				for b.Loop() {
					if err := f.run(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(scan.Bound(c.rtt, n, 1023).Microseconds()), "bound-µs")
			})
		}
	}
}
