package scan_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/trace"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func setup(t testing.TB, cfg target.Config) (*target.Target, *host.Controller) {
	t.Helper()
	return setupHost(t, cfg, host.Config{})
}

// setupHost starts a target of cfg and connects to it with hc, the
// subsystem NQN filled in; both are closed at the end of the test.
func setupHost(t testing.TB, cfg target.Config, hc host.Config) (*target.Target, *host.Controller) {
	t.Helper()
	tg, err := target.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := tg.Start(context.Background(), "")
	if err != nil {
		tg.Close()
		t.Fatal(err)
	}
	hc.SubsystemNQN = tg.NQN()
	c, err := host.Connect(context.Background(), addr, hc)
	if err != nil {
		tg.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); tg.Close() })
	return tg, c
}

// reverseDelays makes namespace i of n finish last when i is 1.
func reverseDelays(n int, step time.Duration) map[uint32]time.Duration {
	d := map[uint32]time.Duration{}
	for i := 1; i <= n; i++ {
		d[uint32(i)] = time.Duration(n-i) * step
	}
	return d
}

func names(nss []*scan.Namespace) map[uint32]string {
	m := map[uint32]string{}
	for _, ns := range nss {
		m[ns.NSID] = ns.Name
	}
	return m
}

func addedNSIDs(res *scan.Result) []uint32 {
	var ids []uint32
	for _, ns := range res.Added {
		ids = append(ids, ns.NSID)
	}
	return ids
}

// Namespaces that finish identification in reverse order are named in list
// order by an ordered scan, every time; an async scan names them as they
// finish.
func TestOrderedNamesFollowTheList(t *testing.T) {
	const n = 24
	for _, mode := range []scanmode.Mode{scanmode.Ordered, scanmode.Async, scanmode.Sync} {
		t.Run(mode.String(), func(t *testing.T) {
			_, c := setup(t, target.Config{Namespaces: n, Faults: target.Faults{Delay: reverseDelays(n, time.Millisecond)}})
			s := &scan.Scanner{Ctrl: c, Mode: mode}
			res, err := s.Scan(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Added) != n || res.Listed != n || len(res.Failed) != 0 {
				t.Fatalf("added %d listed %d failed %v, want %d %d none", len(res.Added), res.Listed, res.Failed, n, n)
			}
			inOrder := true
			for i, ns := range res.Added {
				if ns.NSID != uint32(i+1) {
					inOrder = false
				}
			}
			got := names(s.Namespaces())
			byList := true
			for i := 1; i <= n; i++ {
				if got[uint32(i)] != fmt.Sprintf("nvme0n%d", i) {
					byList = false
				}
			}
			if mode == scanmode.Async {
				if inOrder || byList {
					t.Fatalf("async scan registered in list order %v although namespaces finished in reverse", addedNSIDs(res))
				}
				return
			}
			if !inOrder || !byList {
				t.Fatalf("%v scan: registration order %v, names %v; want list order", mode, addedNSIDs(res), got)
			}
		})
	}
}

// NSIDs with gaps, more than one list page, failures on chosen NSIDs.
func TestGapsPagesAndFailures(t *testing.T) {
	tg, c := setup(t, target.Config{MaxNSID: 4096})
	for nsid := uint32(1); nsid <= 3800; nsid++ {
		if nsid%5 == 0 {
			continue // gaps
		}
		if err := tg.Attach(target.Namespace{NSID: nsid, Size: 1 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	want := tg.Namespaces()
	failing := map[uint32]nvme.Status{want[10].NSID: nvme.StatusInternalError, want[2000].NSID: nvme.StatusNamespaceNotReady}
	tg.SetFaults(target.Faults{Status: failing})
	s := &scan.Scanner{Ctrl: c, Mode: scanmode.Ordered}
	res, err := s.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Listed != len(want) || len(want) < 2500 {
		t.Fatalf("listed %d of %d namespaces", res.Listed, len(want))
	}
	if len(res.Failed) != 2 || res.Failed[0].NSID != want[10].NSID || res.Failed[1].NSID != want[2000].NSID {
		t.Fatalf("failed %v, want NSIDs %d and %d", res.Failed, want[10].NSID, want[2000].NSID)
	}
	var st nvme.Status
	if !errors.As(res.Failed[0], &st) || st.Code() != nvme.StatusInternalError {
		t.Fatalf("failure %v does not carry the namespace's status", res.Failed[0])
	}
	instance := 1
	for _, ns := range res.Added {
		if ns.Name != fmt.Sprintf("nvme0n%d", instance) {
			t.Fatalf("NSID %d named %s, want nvme0n%d", ns.NSID, ns.Name, instance)
		}
		instance++
	}
	if len(res.Added) != len(want)-2 {
		t.Fatalf("registered %d, want %d", len(res.Added), len(want)-2)
	}
}

// A rescan after namespaces were detached and attached removes the gone,
// keeps the others' names, and gives new ones the smallest free instance.
func TestRescan(t *testing.T) {
	tg, c := setup(t, target.Config{Namespaces: 6})
	s := &scan.Scanner{Ctrl: c, Mode: scanmode.Ordered}
	if _, err := s.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	tg.Detach(2)
	tg.Detach(5)
	tg.Attach(target.Namespace{NSID: 9})
	if err := tg.Attach(target.Namespace{NSID: 1000}); err != nil {
		t.Fatal(err)
	}
	results := make(chan *scan.Result, 4)
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan error)
	go func() {
		watched <- s.Watch(ctx, func(r *scan.Result, err error) {
			if err != nil {
				t.Error(err)
			}
			results <- r
		})
	}()
	// The attach/detach events arrive (one AEN until the log is read, so
	// one or more rescans); wait until the registered set matches.
	want := map[uint32]string{1: "nvme0n1", 3: "nvme0n3", 4: "nvme0n4", 6: "nvme0n6", 9: "nvme0n2", 1000: "nvme0n5"}
	for fmt.Sprint(names(s.Namespaces())) != fmt.Sprint(want) {
		select {
		case <-results:
		case <-time.After(10 * time.Second):
			t.Fatalf("names %v after rescans, want %v", names(s.Namespaces()), want)
		}
	}
	cancel()
	if err := <-watched; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch = %v", err)
	}
}

func TestNSIDNaming(t *testing.T) {
	tg, c := setup(t, target.Config{})
	for _, id := range []uint32{1, 10, 333} {
		tg.Attach(target.Namespace{NSID: id})
	}
	s := &scan.Scanner{Ctrl: c, Naming: scan.NSID, Controller: 3}
	if _, err := s.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := names(s.Namespaces())
	want := map[uint32]string{1: "nvme3n1", 10: "nvme3n10", 333: "nvme3n333"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	ns := s.Namespaces()[0]
	u := ns.UUID
	if len(ns.Aliases) != 3 || ns.Aliases[0] != fmt.Sprintf("nvme-uuid.%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:]) {
		t.Fatalf("aliases %v", ns.Aliases)
	}
}

// A target that drops the connection mid-scan: the scan returns an error,
// and every registered namespace is whole.
func TestConnectionDroppedMidScan(t *testing.T) {
	tg, c := setup(t, target.Config{Namespaces: 200})
	tg.SetFaults(target.Faults{DropAfter: 150})
	s := &scan.Scanner{Ctrl: c}
	res, err := s.Scan(context.Background())
	if err == nil {
		t.Fatal("scan over a dropped connection returned no error")
	}
	for _, ns := range s.Namespaces() {
		if ns.Name == "" || ns.Size == 0 {
			t.Fatalf("half-registered namespace %+v", ns)
		}
	}
	if len(res.Added)+len(res.Failed) > 200 {
		t.Fatalf("added %d failed %d", len(res.Added), len(res.Failed))
	}
}

// One namespace never answers: its command times out, the rest register.
func TestHungNamespace(t *testing.T) {
	_, c := setupHost(t, target.Config{Namespaces: 8, Faults: target.Faults{Hang: map[uint32]bool{3: true}}}, host.Config{CommandTimeout: 200 * time.Millisecond})
	tr := trace.New()
	s := &scan.Scanner{Ctrl: c, Trace: tr}
	res, err := s.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || res.Failed[0].NSID != 3 || !errors.Is(res.Failed[0], host.ErrTimeout) {
		t.Fatalf("failed %v, want NSID 3 timed out", res.Failed)
	}
	if got := names(s.Namespaces()); len(got) != 7 || got[4] != "nvme0n3" || got[8] != "nvme0n7" {
		t.Fatalf("names %v", got)
	}
	if tr.Len() == 0 {
		t.Fatal("no spans traced")
	}
}

func TestCancel(t *testing.T) {
	_, c := setup(t, target.Config{Namespaces: 500, ServiceTime: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	s := &scan.Scanner{Ctrl: c, Progress: func(done, _ int) {
		if done == 20 {
			cancel()
		}
	}}
	res, err := s.Scan(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled scan = %v", err)
	}
	// The list goroutine waits for room at half the admin queue (32
	// entries): it stops there, far before the end of the list.
	if res.Listed >= 100 {
		t.Fatalf("%d NSIDs listed after a cancel at the 20th namespace", res.Listed)
	}
}

func TestBound(t *testing.T) {
	if got := scan.Bound(150*time.Millisecond, 100, 32); got != 150*time.Millisecond*8 {
		t.Fatalf("Bound = %v", got)
	}
	if got := scan.Bound(150*time.Millisecond, 100, 1023); got != 300*time.Millisecond {
		t.Fatalf("Bound = %v", got)
	}
}

// A controller without the NSID list is probed NSID by NSID up to NN:
// the active namespaces are registered in order, the inactive skipped.
func TestSequentialFallback(t *testing.T) {
	tg, c := setup(t, target.Config{MaxNSID: 40, Faults: target.Faults{NoNSIDList: true}})
	for _, id := range []uint32{3, 7, 8, 40} {
		if err := tg.Attach(target.Namespace{NSID: id}); err != nil {
			t.Fatal(err)
		}
	}
	for _, mode := range []scanmode.Mode{scanmode.Ordered, scanmode.Sync} {
		s := &scan.Scanner{Ctrl: c, Mode: mode}
		res, err := s.Scan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := map[uint32]string{3: "nvme0n1", 7: "nvme0n2", 8: "nvme0n3", 40: "nvme0n4"}
		if got := names(s.Namespaces()); fmt.Sprint(got) != fmt.Sprint(want) || res.Listed != 40 || len(res.Failed) != 0 {
			t.Fatalf("%v: names %v, probed %d, failed %v", mode, got, res.Listed, res.Failed)
		}
	}
}
