package target

import (
	"maps"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
)

func TestParseIdentifyDelay(t *testing.T) {
	ms := time.Millisecond
	three := []uint32{1, 2, 5}
	tests := []struct {
		profile string
		want    map[uint32]time.Duration // nil: an error
	}{
		{"reverse:20ms", map[uint32]time.Duration{1: 60 * ms, 2: 40 * ms, 5: 20 * ms}},
		{"reverse:0s", map[uint32]time.Duration{1: 0, 2: 0, 5: 0}},
		{"nsid:1=400ms,2=380ms,9=1s", map[uint32]time.Duration{1: 400 * ms, 2: 380 * ms, 9: time.Second}},
		{"random:7:0s", map[uint32]time.Duration{1: 0, 2: 0, 5: 0}},
		{"", nil},
		{"reverse", nil},
		{"reverse:", nil},
		{"reverse:-1ms", nil},
		{"reverse:2h", nil},
		{"reverse:30m", nil}, // 3 × 30m is above an hour
		{"random:x:1ms", nil},
		{"random:1", nil},
		{"random:1:-1s", nil},
		{"nsid:0=1ms", nil},
		{"nsid:1", nil},
		{"nsid:1=1ms,", nil},
		{"nsid:1=forever", nil},
		{"forward:1ms", nil},
	}
	for _, tt := range tests {
		got, err := ParseIdentifyDelay(tt.profile, three)
		if tt.want == nil {
			if err == nil {
				t.Errorf("%q: %v, want an error", tt.profile, got)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("%q: %v, %v; want %v", tt.profile, got, err, tt.want)
		}
	}
	// random: the same delays for the same seed, within the bound, and
	// not all equal.
	nsids := make([]uint32, 100)
	for i := range nsids {
		nsids[i] = uint32(i + 1)
	}
	a, err := ParseIdentifyDelay("random:42:100ms", nsids)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseIdentifyDelay("random:42:100ms", nsids)
	c, _ := ParseIdentifyDelay("random:43:100ms", nsids)
	if !maps.Equal(a, b) || maps.Equal(a, c) || len(a) != 100 {
		t.Fatalf("seed 42 twice: equal %v; seeds 42 and 43 equal %v", maps.Equal(a, b), maps.Equal(a, c))
	}
	distinct := map[time.Duration]bool{}
	for _, d := range a {
		if d < 0 || d > 100*ms {
			t.Fatalf("delay %v outside 0..100ms", d)
		}
		distinct[d] = true
	}
	if len(distinct) < 50 {
		t.Errorf("%d distinct delays among 100", len(distinct))
	}
}

// TestIdentifyDelayScope: the delays, the Target's and the subsystem's,
// hold the Identify commands about their namespace, and only those.
func TestIdentifyDelayScope(t *testing.T) {
	tg, err := New(Config{
		Faults: Faults{IdentifyDelay: map[uint32]time.Duration{1: time.Second}},
		Subsystems: []SubsystemConfig{{NQN: DefaultNQN, Namespaces: 2,
			Faults: Faults{IdentifyDelay: map[uint32]time.Duration{1: time.Millisecond}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	c := &controller{t: tg, sub: tg.subs[0]}
	tests := []struct {
		name  string
		cmd   *nvme.Command
		qid   uint16
		delay time.Duration
	}{
		{"Identify Namespace", identifyCmd(nvme.CNSNamespace, 1), 0, time.Second + time.Millisecond},
		{"descriptor list", identifyCmd(nvme.CNSNSDescriptors, 1), 0, time.Second + time.Millisecond},
		{"CS independent", identifyCmd(nvme.CNSCSIndependentNS, 1), 0, time.Second + time.Millisecond},
		{"CNS 05h", identifyCmd(0x05, 1), 0, time.Second + time.Millisecond},
		{"another namespace", identifyCmd(nvme.CNSNamespace, 2), 0, 0},
		{"Identify Controller", identifyCmd(nvme.CNSController, 1), 0, 0},
		{"NSID list", identifyCmd(nvme.CNSActiveNamespaces, 0), 0, 0},
		{"Read", readCmd(1, 0, 1), 1, 0},
	}
	for _, tt := range tests {
		var d time.Duration
		if nsid, ok := targetNSID(tt.cmd, tt.qid); ok {
			_, d, _ = c.nsFaults(c.t.faults.Load(), nsid, tt.qid == 0)
		}
		if d != tt.delay {
			t.Errorf("%s: delay %v, want %v", tt.name, d, tt.delay)
		}
	}
}

// TestIdentifyDelayOrder: with the reverse profile, Identify Namespace
// for NSIDs 1, 2, 3 sent at once completes in the order 3, 2, 1.
func TestIdentifyDelayOrder(t *testing.T) {
	nsids := []uint32{1, 2, 3}
	delays, err := ParseIdentifyDelay("reverse:100ms", nsids)
	if err != nil {
		t.Fatal(err)
	}
	tg, addr := startTarget(t, Config{Namespaces: 3, Faults: Faults{IdentifyDelay: delays}})
	q, _ := admin(t, addr, tg.NQN(), 0)
	done := make(chan uint32, len(nsids))
	for _, id := range nsids {
		go func() {
			if _, err := identify(q, nvme.CNSNamespace, id); err != nil {
				t.Error(err)
			}
			done <- id
		}()
	}
	var order []uint32
	for range nsids {
		order = append(order, <-done)
	}
	if order[0] != 3 || order[1] != 2 || order[2] != 1 {
		t.Errorf("completion order %v, want [3 2 1]", order)
	}
}
