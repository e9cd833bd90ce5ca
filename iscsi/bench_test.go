package iscsi

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/scsi"
)

// benchTarget serves hosts × luns emulated disks behind a link of rtt.
func benchTarget(b *testing.B, hosts, luns int, rtt time.Duration) (*Target, string) {
	emulated := make([]*scsi.Host, hosts)
	for i := range emulated {
		emulated[i] = &scsi.Host{LUNs: luns}
	}
	tg := NewTarget(TargetConfig{Hosts: emulated, Delay: rtt / 2})
	addr, err := tg.Start(b.Context(), "")
	if err != nil {
		b.Fatal(err)
	}
	return tg, addr
}

// scanOnce logs in to every target of tg as a new host and scans them in
// mode m; it returns the time from the first AddHost to WaitScans, and
// logs out untimed.
func scanOnce(b *testing.B, tg *Target, addr string, hosts, luns int, m scanmode.Mode) time.Duration {
	s := &scsi.Scanner{Mode: m, Timeout: time.Minute}
	var hs []*Host
	start := time.Now()
	for n := range hosts {
		h := NewHost(addr, Config{TargetName: tg.Name(n)})
		hs = append(hs, h)
		s.AddHost(b.Context(), h)
	}
	s.WaitScans(b.Context())
	d := time.Since(start)
	s.Close()
	if len(s.Devices()) != hosts*luns || len(s.Errors()) > 0 {
		b.Fatalf("%d devices, errors %v", len(s.Devices()), s.Errors())
	}
	for _, h := range hs {
		h.Close(b.Context())
	}
	return d
}

// BenchmarkScan scans hosts × LUNs over iSCSI on loopback with an
// emulated round trip (the target's netem link), in each mode: login,
// REPORT LUNS and four commands a LUN, disks named through the chain.
// Run with -benchtime 1x: one scan is seconds long in sync mode.
func BenchmarkScan(b *testing.B) {
	for _, c := range []struct {
		hosts, luns int
		rtt         time.Duration
		modes       []scanmode.Mode
	}{
		{64, 16, 5 * time.Millisecond, []scanmode.Mode{scanmode.Ordered, scanmode.Async, scanmode.Sync}},
		{1024, 16, 200 * time.Microsecond, []scanmode.Mode{scanmode.Ordered, scanmode.Async}},
	} {
		tg, addr := benchTarget(b, c.hosts, c.luns, c.rtt)
		for _, m := range c.modes {
			b.Run(fmt.Sprintf("hosts=%d/luns=%d/rtt=%v/%v", c.hosts, c.luns, c.rtt, m), func(b *testing.B) {
				var total time.Duration
				for b.Loop() {
					total += scanOnce(b, tg, addr, c.hosts, c.luns, m)
				}
				b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/scan")
			})
		}
		tg.Close()
	}
}

// BenchmarkOrderedOverAsync scans 64 hosts × 16 LUNs at 5 ms in async
// and ordered mode back to back, alternating which goes first, so that
// both see the same machine; it reports the median of the runs' ratios
// ordered/async (the chain's cost) beside the medians.
func BenchmarkOrderedOverAsync(b *testing.B) {
	const hosts, luns, rtt = 64, 16, 5 * time.Millisecond
	tg, addr := benchTarget(b, hosts, luns, rtt)
	defer tg.Close()
	var ratios, ordered, async []float64
	i := 0
	for b.Loop() {
		var o, a time.Duration
		if i%2 == 0 {
			a = scanOnce(b, tg, addr, hosts, luns, scanmode.Async)
			o = scanOnce(b, tg, addr, hosts, luns, scanmode.Ordered)
		} else {
			o = scanOnce(b, tg, addr, hosts, luns, scanmode.Ordered)
			a = scanOnce(b, tg, addr, hosts, luns, scanmode.Async)
		}
		i++
		ratios = append(ratios, float64(o)/float64(a))
		ordered = append(ordered, float64(o.Milliseconds()))
		async = append(async, float64(a.Milliseconds()))
	}
	b.ReportMetric(median(ratios), "ordered/async")
	b.ReportMetric(median(ordered), "ordered-ms")
	b.ReportMetric(median(async), "async-ms")
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkCommand runs one READ CAPACITY(16) at a time on one session
// over loopback with no added delay: the initiator's and target's cost
// of a command answered with one Data-In.
func BenchmarkCommand(b *testing.B) {
	tg, addr := benchTarget(b, 1, 1, 0)
	defer tg.Close()
	s, err := Dial(b.Context(), addr, Config{TargetName: tg.Name(0)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	cdb := scsi.ReadCapacity16CDB(32)
	b.ReportAllocs()
	for b.Loop() {
		r, err := s.Command(b.Context(), scsi.Addr{}, cdb)
		if err != nil || len(r.Data) != 32 {
			b.Fatalf("%d bytes, err %v", len(r.Data), err)
		}
	}
}
