package host_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/multipath"
	"github.com/complchain/complchain/nvme/target"
)

// Two ports of the embedded target are two paths to each namespace: the
// host reads each port's ANA states at bring-up, follows a change while
// connected, and multipath joins the controllers' namespaces into heads
// whose paths carry the states.
func TestANAEmbeddedTarget(t *testing.T) {
	tg, addr1 := startTarget(t, target.Config{Namespaces: 2})
	if err := tg.Attach(target.Namespace{NSID: 3, ANAGRPID: 2}); err != nil {
		t.Fatal(err)
	}
	addr2, err := tg.Start(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.SetANAState(2, 2, nvme.ANAInaccessible); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ctrls := []*host.Controller{connect(t, addr1, host.Config{}), connect(t, addr2, host.Config{})}

	s, err := multipath.New(multipath.Config{NQN: tg.NQN(), Naming: multipath.Index})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range ctrls {
		if !c.ANASupported() {
			t.Fatalf("controller %d does not report ANA", i)
		}
		log, err := c.ANA()
		if err != nil {
			t.Fatal(err)
		}
		nsids, err := c.ActiveNamespaces(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, nsid := range nsids {
			ns, ids, err := c.IdentifyNamespaceIDs(ctx, nsid)
			if err != nil {
				t.Fatal(err)
			}
			p := multipath.Path{Controller: i, CNTLID: c.CNTLID(), NSID: nsid, IDs: ids, Shared: ns.NMIC&1 != 0, ANAGRPID: ns.ANAGRPID}
			if g := log.Group(ns.ANAGRPID); g != nil {
				p.ANAState = g.State
			}
			if _, err := s.Attach(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	paths := func() []string {
		var out []string
		for _, h := range s.Heads() {
			for _, p := range h.Paths {
				out = append(out, h.PathName(p.Controller)+" "+p.ANAState.String())
			}
		}
		return out
	}
	want := []string{"nvme0c0n1 optimized", "nvme0c1n1 optimized", "nvme0c0n2 optimized", "nvme0c1n2 optimized",
		"nvme0c0n3 optimized", "nvme0c1n3 inaccessible"}
	if got := paths(); !slices.Equal(got, want) {
		t.Fatalf("paths %q, want %q", got, want)
	}

	// Group 1 through port 1 becomes non-optimized: controller 0 is told.
	if err := tg.SetANAState(1, 1, nvme.ANANonOptimized); err != nil {
		t.Fatal(err)
	}
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	select {
	case e := <-ctrls[0].Events():
		if !e.ANAChange() {
			t.Fatalf("event %+v", e)
		}
	case <-timeout.C:
		t.Fatal("no ANA change notice")
	}
	log, err := ctrls[0].ANA()
	if err != nil {
		t.Fatal(err)
	}
	if n := s.SetANA(0, log); n != 2 {
		t.Fatalf("%d paths changed, want 2", n)
	}
	want[0], want[2] = "nvme0c0n1 non-optimized", "nvme0c0n2 non-optimized"
	if got := paths(); !slices.Equal(got, want) {
		t.Fatalf("after the change: paths %q, want %q", got, want)
	}
}
