package main

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme/fabric"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/multipath"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scanmode"
)

// BenchmarkScanMultipath measures what scan --multipath does with two
// ports of one subsystem of 1000 namespaces at 15 ms emulated RTT
// (connect both controllers, identify every namespace through each, join
// the paths into heads) against the same with one port, in ordered and
// async mode. Every iteration runs the four cases interleaved, in
// alternating order (ABBA), after a garbage collection each; the metrics
// are the medians in ms (ms-nsscan-: of the slowest controller's
// namespace scan alone, scan.Result.Elapsed), and each two-path median
// over its one-path one (x2/1). Run it with -benchtime=11x or more.
func BenchmarkScanMultipath(b *testing.B) {
	const namespaces, rtt = 1000, 15 * time.Millisecond
	tg, err := target.New(target.Config{Namespaces: namespaces, AdminQueueDepth: embeddedQueueDepth, IOQueueDepth: embeddedQueueDepth, Delay: rtt / 2})
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Close()
	var ports []fabric.Port
	for range 2 {
		addr, err := tg.Start(context.Background(), "")
		if err != nil {
			b.Fatal(err)
		}
		ports = append(ports, fabric.Port{Addr: addr, NQN: tg.NQN()})
	}
	type kase struct {
		name  string
		mode  scanmode.Mode
		paths int
		runs  []time.Duration // connect, scan and join
		scans []time.Duration // the slowest controller's namespace scan
	}
	cases := []*kase{
		{name: "ordered-1path", mode: scanmode.Ordered, paths: 1},
		{name: "ordered-2paths", mode: scanmode.Ordered, paths: 2},
		{name: "async-1path", mode: scanmode.Async, paths: 1},
		{name: "async-2paths", mode: scanmode.Async, paths: 2},
	}
	ctx := context.Background()
	run := func(k *kase) {
		b.Helper()
		start := time.Now()
		s := &fabric.Scanner{Host: host.Config{KATO: -1}, Mode: k.mode}
		res, err := s.Scan(ctx, ports[:k.paths])
		if err != nil || len(res.Failed) > 0 {
			b.Fatalf("%s: %v %v", k.name, err, res.Failed)
		}
		subs, errs := joinHeads(ctx, res.Controllers, multipath.Index, nil)
		d := time.Since(start)
		res.Close()
		if len(errs) > 0 || len(subs) != 1 || len(subs[0].s.Heads()) != namespaces {
			b.Fatalf("%s: %d subsystems, errors %v", k.name, len(subs), errs)
		}
		for _, h := range subs[0].s.Heads() {
			if len(h.Paths) != k.paths {
				b.Fatalf("%s: head %s has %d paths", k.name, h.Name(), len(h.Paths))
			}
		}
		var scanned time.Duration
		for _, c := range res.Controllers {
			scanned = max(scanned, c.Result.Elapsed)
		}
		k.runs, k.scans = append(k.runs, d), append(k.scans, scanned)
	}
	run(cases[0]) // a warm-up
	cases[0].runs, cases[0].scans = nil, nil
	i := 0
	for b.Loop() {
		for j := range cases {
			k := cases[j]
			if i%2 == 1 {
				k = cases[len(cases)-1-j]
			}
			b.StopTimer()
			runtime.GC()
			b.StartTimer()
			run(k)
		}
		i++
	}
	med := map[string]float64{}
	for _, k := range cases {
		slices.Sort(k.runs)
		slices.Sort(k.scans)
		med[k.name] = float64(median(k.runs)) / 1e6
		b.ReportMetric(med[k.name], "ms-"+k.name)
		b.ReportMetric(float64(median(k.scans))/1e6, "ms-nsscan-"+k.name)
	}
	b.ReportMetric(med["ordered-2paths"]/med["ordered-1path"], "x2/1-ordered")
	b.ReportMetric(med["async-2paths"]/med["async-1path"], "x2/1-async")
}
