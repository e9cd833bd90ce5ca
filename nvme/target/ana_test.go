package target

import (
	"context"
	"errors"
	"net"
	"reflect"
	"sync"
	"testing"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// servePort serves tg on a new loopback port with pc until the end of the
// test and returns its address.
func servePort(t *testing.T, tg *Target, pc PortConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { tg.ServePort(ctx, ln, pc) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ln.Addr().String()
}

// anaLogOf reads and decodes the ANA log through q.
func anaLogOf(t *testing.T, q *tcp.HostQueue, rgo, rae bool) nvme.ANALog {
	t.Helper()
	n := 16 + MaxANAGroups*32 + 1024*4
	cmd := getLogCmd(nvme.LogANA, n, 0, rae)
	if rgo {
		cmd.CDW10 |= 1 << 8
	}
	b := make([]byte, n)
	if _, err := q.Do(context.Background(), cmd, b); err != nil {
		t.Fatal(err)
	}
	var l nvme.ANALog
	if err := l.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestANAIdentify(t *testing.T) {
	tg := newTarget(t, Config{Namespaces: 2})
	if err := tg.Attach(Namespace{NSID: 3, ANAGRPID: 7}); err != nil {
		t.Fatal(err)
	}
	q, _ := admin(t, servePort(t, tg, PortConfig{}), tg.NQN(), 0)
	b, err := identify(q, nvme.CNSController, 0)
	if err != nil {
		t.Fatal(err)
	}
	var id nvme.IdentifyController
	id.UnmarshalBinary(b)
	if id.CMIC&nvme.CMICANA == 0 || id.ANACAP != 0x1f || id.ANATT != 10 || id.ANAGRPMAX != MaxANAGroups ||
		id.NANAGRPID != MaxANAGroups || id.MNAN != id.NN || id.OAES&nvme.AsyncEventANAChange == 0 {
		t.Fatalf("Identify Controller: CMIC %#x ANACAP %#x ANATT %d ANAGRPMAX %d NANAGRPID %d MNAN %d NN %d OAES %#x",
			id.CMIC, id.ANACAP, id.ANATT, id.ANAGRPMAX, id.NANAGRPID, id.MNAN, id.NN, id.OAES)
	}
	for nsid, want := range map[uint32]uint32{1: 1, 3: 7} {
		b, _ := identify(q, nvme.CNSNamespace, nsid)
		var ns nvme.IdentifyNamespace
		ns.UnmarshalBinary(b)
		b, _ = identify(q, nvme.CNSCSIndependentNS, nsid)
		var csi nvme.IdentifyCSIndependentNS
		csi.UnmarshalBinary(b)
		if ns.ANAGRPID != want || csi.ANAGRPID != want {
			t.Errorf("NSID %d: ANAGRPID %d (CNS 00h), %d (CNS 08h), want %d", nsid, ns.ANAGRPID, csi.ANAGRPID, want)
		}
	}
	if err := tg.Attach(Namespace{NSID: 4, ANAGRPID: MaxANAGroups + 1}); !errors.Is(err, ErrInvalidNamespace) {
		t.Fatalf("ANAGRPID %d: %v", MaxANAGroups+1, err)
	}
}

// Each port reports its own states; a change raises the notice on the
// controllers of that port only, masked until the log is read.
func TestANAPorts(t *testing.T) {
	tg := newTarget(t, Config{Namespaces: 2})
	if err := tg.Attach(Namespace{NSID: 3, ANAGRPID: 2}); err != nil {
		t.Fatal(err)
	}
	addr1 := servePort(t, tg, PortConfig{PortID: 1})
	addr2 := servePort(t, tg, PortConfig{PortID: 2, ANAStates: map[uint32]nvme.ANAState{2: nvme.ANAInaccessible, 9: nvme.ANANonOptimized}})
	q1, _ := admin(t, addr1, tg.NQN(), 0)
	q2, _ := admin(t, addr2, tg.NQN(), 0)
	groups := func(states ...nvme.ANAState) []nvme.ANAGroup {
		gs := []nvme.ANAGroup{{ANAGRPID: 1, State: states[0], NSIDs: []uint32{1, 2}}, {ANAGRPID: 2, State: states[1], NSIDs: []uint32{3}}}
		if len(states) > 2 {
			gs = append(gs, nvme.ANAGroup{ANAGRPID: 9, State: states[2]})
		}
		return gs
	}
	check := func(q *tcp.HostQueue, chgcnt uint64, want []nvme.ANAGroup) {
		t.Helper()
		for i := range want {
			want[i].CHGCNT = chgcnt
		}
		if got := anaLogOf(t, q, false, true); got.CHGCNT != chgcnt || !reflect.DeepEqual(got.Groups, want) {
			t.Fatalf("ANA log %+v, want CHGCNT %d, %+v", got, chgcnt, want)
		}
	}
	check(q1, 0, groups(nvme.ANAOptimized, nvme.ANAOptimized))
	check(q2, 0, groups(nvme.ANAOptimized, nvme.ANAInaccessible, nvme.ANANonOptimized))
	if l := anaLogOf(t, q2, true, true); len(l.Groups) != 3 || l.Groups[0].NSIDs != nil || l.Groups[1].State != nvme.ANAInaccessible {
		t.Fatalf("RGO: %+v", l)
	}

	for _, q := range []*tcp.HostQueue{q1, q2} {
		if _, err := q.Do(context.Background(), &nvme.Command{Opcode: nvme.OpSetFeatures, CDW10: nvme.FeatureAsyncEvent, CDW11: nvme.AsyncEventANAChange}, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	event := func(q *tcp.HostQueue) <-chan uint64 {
		ch := make(chan uint64, 1)
		go func() {
			c, err := q.Do(ctx, &nvme.Command{Opcode: nvme.OpAsyncEvent}, nil)
			if err != nil {
				c.Result = 0
			}
			ch <- c.Result
		}()
		return ch
	}
	ev1, ev2 := event(q1), event(q2)
	if err := tg.SetANAState(2, 1, nvme.ANAChange); err != nil {
		t.Fatal(err)
	}
	if r := <-ev2; r != aenResultANAChange {
		t.Fatalf("AER result %#x, want the ANA change notice %#x", r, aenResultANAChange)
	}
	// Masked until read: a second change is reported once the log is read
	// without RAE.
	ev2 = event(q2)
	tg.SetANAState(2, 2, nvme.ANAPersistentLoss)
	check(q2, 2, groups(nvme.ANAChange, nvme.ANAPersistentLoss, nvme.ANANonOptimized)) // RAE: stays masked
	anaLogOf(t, q2, false, false)
	if r := <-ev2; r != aenResultANAChange {
		t.Fatalf("after the read: AER result %#x", r)
	}
	// Port 1 saw nothing: its first event is its own change.
	tg.SetANAState(1, 2, nvme.ANANonOptimized)
	if r := <-ev1; r != aenResultANAChange {
		t.Fatalf("port 1: AER result %#x", r)
	}
	check(q1, 1, groups(nvme.ANAOptimized, nvme.ANANonOptimized))

	for _, tt := range []struct {
		port  uint16
		grpid uint32
		s     nvme.ANAState
	}{{3, 1, nvme.ANAOptimized}, {1, 0, nvme.ANAOptimized}, {1, MaxANAGroups + 1, nvme.ANAOptimized}, {1, 1, 5}} {
		if err := tg.SetANAState(tt.port, tt.grpid, tt.s); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("SetANAState(%d, %d, %#x): %v", tt.port, tt.grpid, uint8(tt.s), err)
		}
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := tg.ServePort(ctx, ln, PortConfig{ANAStates: map[uint32]nvme.ANAState{0: nvme.ANAOptimized}}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ServePort with group 0: %v", err)
	}
}

// I/O through a port whose group is inaccessible, lost or changing fails
// with the path-related status Linux's nvmet returns.
func TestANAIO(t *testing.T) {
	tg := newTarget(t, Config{Namespaces: 1})
	addr := servePort(t, tg, PortConfig{PortID: 1})
	q := ioQueue(t, addr, tg.NQN(), tcp.HostConfig{})
	tests := []struct {
		s    nvme.ANAState
		want nvme.Status
	}{
		{nvme.ANAOptimized, 0}, {nvme.ANANonOptimized, 0}, {nvme.ANAInaccessible, nvme.StatusANAInaccessible},
		{nvme.ANAPersistentLoss, nvme.StatusANAPersistentLoss}, {nvme.ANAChange, nvme.StatusANATransition},
	}
	for _, tt := range tests {
		t.Run(tt.s.String(), func(t *testing.T) {
			if err := tg.SetANAState(1, 1, tt.s); err != nil {
				t.Fatal(err)
			}
			_, err := q.Do(context.Background(), readCmd(1, 0, 1), make([]byte, 512))
			if tt.want == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantStatus(t, err, tt.want)
		})
	}
}
