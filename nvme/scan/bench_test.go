package scan_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/complchain/complchain/internal/netem"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/nvme/tcp"
)

// BenchmarkScan measures a scan of N namespaces over loopback, with no
// emulated delay and with the seed's low-latency round trip (0.2 ms); the
// connection is made once, each iteration is a first scan.
func BenchmarkScan(b *testing.B) {
	for _, rtt := range []time.Duration{0, 200 * time.Microsecond} {
		for _, n := range []int{100, 1000} {
			for _, mode := range []scan.Mode{scan.Ordered, scan.Async} {
				b.Run(fmt.Sprintf("RTT=%v/N=%d/%v", rtt, n, mode), func(b *testing.B) {
					_, c := setup(b, target.Config{Namespaces: n, AdminQueueDepth: 1024, IOQueueDepth: 1024, Delay: rtt / 2})
					var last time.Duration
					for b.Loop() {
						s := &scan.Scanner{Ctrl: c, Mode: mode}
						res, err := s.Scan(context.Background())
						if err != nil || len(res.Added) != n {
							b.Fatalf("added %d, %v", len(res.Added), err)
						}
						last = res.Elapsed
					}
					_ = last
					b.ReportMetric(float64(scan.Bound(rtt, n, c.QueueDepth()).Microseconds()), "bound-µs")
				})
			}
		}
	}
}

// BenchmarkFloor measures the least time a scan of N namespaces can take
// on this machine and link, whatever the software: one round trip for
// the NSID list, then one round trip that carries N·k command capsules
// out and N·k 4 KiB identify responses back, with no NVMe processing at
// all: raw bytes through the same emulated link as BenchmarkScan. Its
// ratio to the bound shows how much of a scan's distance from the bound
// is the cost of moving the data.
func BenchmarkFloor(b *testing.B) {
	const (
		capsule  = tcp.CapsuleCmdLen
		response = tcp.DataHLen + nvme.IdentifySize + tcp.CapsuleRspLen
	)
	for _, rtt := range []time.Duration{0, 200 * time.Microsecond} {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("RTT=%v/N=%d", rtt, n), func(b *testing.B) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				defer ln.Close()
				served := make(chan struct{})
				go func() {
					defer close(served)
					c, err := ln.Accept()
					if err != nil {
						return
					}
					if rtt > 0 {
						c = netem.Wrap(c, netem.Link{Delay: rtt / 2})
					}
					defer c.Close()
					in, out := make([]byte, capsule*scan.CommandsPerNamespace*n), make([]byte, response*scan.CommandsPerNamespace*n)
					for {
						if _, err := io.ReadFull(c, in[:capsule]); err != nil { // the list
							return
						}
						c.Write(out[:response])
						if _, err := io.ReadFull(c, in); err != nil {
							return
						}
						c.Write(out)
					}
				}()
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				in, out := make([]byte, response*scan.CommandsPerNamespace*n), make([]byte, capsule*scan.CommandsPerNamespace*n)
				for b.Loop() {
					c.Write(out[:capsule])
					io.ReadFull(c, in[:response])
					c.Write(out)
					if _, err := io.ReadFull(c, in); err != nil {
						b.Fatal(err)
					}
				}
				c.Close()
				<-served
				b.ReportMetric(float64(scan.Bound(rtt, n, 1023).Microseconds()), "bound-µs")
			})
		}
	}
}
