package target

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// threeSubsystems configures three subsystems with 1, 2 and 3 namespaces.
func threeSubsystems() Config {
	return Config{Subsystems: []SubsystemConfig{
		{NQN: "nqn.2026-01.io.example:sub1", Namespaces: 1},
		{NQN: "nqn.2026-01.io.example:sub2", Namespaces: 2, Model: "second"},
		{NQN: "nqn.2026-01.io.example:sub3", Namespaces: 3, NamespaceList: []Namespace{{NSID: 10}}},
	}}
}

func TestSubsystems(t *testing.T) {
	cfg := threeSubsystems()
	tg, addr := startTarget(t, cfg)
	if tg.NQN() != cfg.Subsystems[0].NQN || len(tg.Subsystems()) != 3 || tg.Subsystem("nqn.2026-01.io.example:none") != nil {
		t.Fatalf("NQN %q, %d subsystems", tg.NQN(), len(tg.Subsystems()))
	}
	tests := []struct {
		nqn   string
		model string
		nsids []uint32
	}{
		{cfg.Subsystems[0].NQN, "complchain emulated NVMe/TCP", []uint32{1}},
		{cfg.Subsystems[1].NQN, "second", []uint32{1, 2}},
		{cfg.Subsystems[2].NQN, "complchain emulated NVMe/TCP", []uint32{1, 2, 3, 10}},
	}
	cntlids := map[uint16]bool{}
	for _, tt := range tests {
		t.Run(tt.nqn, func(t *testing.T) {
			q, cntlid := admin(t, addr, tt.nqn, 0)
			if cntlids[cntlid] {
				t.Errorf("CNTLID %d given twice", cntlid)
			}
			cntlids[cntlid] = true
			id, err := identify(q, nvme.CNSController, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := cString(id[768:1024]); got != tt.nqn {
				t.Errorf("SUBNQN %q", got)
			}
			if got := strings.TrimRight(string(id[24:64]), " "); got != tt.model {
				t.Errorf("model %q, want %q", got, tt.model)
			}
			list, err := identify(q, nvme.CNSActiveNamespaces, 0)
			if err != nil {
				t.Fatal(err)
			}
			checkList(t, list, tt.nsids...)
		})
	}
}

// Namespaces, events and faults of one subsystem do not reach another's
// controllers.
func TestSubsystemIsolation(t *testing.T) {
	cfg := threeSubsystems()
	tg, addr := startTarget(t, cfg)
	s1, s2 := tg.Subsystems()[0], tg.Subsystem(cfg.Subsystems[1].NQN)
	q1, _ := admin(t, addr, s1.NQN(), 0)
	q2, _ := admin(t, addr, s2.NQN(), 0)
	enableAEN(t, q1)
	enableAEN(t, q2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ev2 := aer(ctx, q2)
	if err := s2.Attach(Namespace{NSID: 7}); err != nil {
		t.Fatal(err)
	}
	if err := <-ev2; err != nil {
		t.Fatalf("subsystem 2 AER: %v", err)
	}
	for _, c := range []struct {
		q    *tcp.HostQueue
		want []uint32
	}{{q1, nil}, {q2, []uint32{7}}} {
		b, err := getLog(c.q, nvme.LogChangedNamespace, changedLogSize, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		checkList(t, b, c.want...)
	}
	_, err := identify(q1, nvme.CNSNSDescriptors, 7)
	wantStatus(t, err, nvme.StatusInvalidNamespace) // subsystem 2's NSID 7 is not subsystem 1's
	s2.SetFaults(Faults{Status: map[uint32]nvme.Status{1: nvme.StatusInternalError | nvme.StatusDNR}})
	_, err = identify(q2, nvme.CNSNamespace, 1)
	wantStatus(t, err, nvme.StatusInternalError)
	if _, err := identify(q1, nvme.CNSNamespace, 1); err != nil {
		t.Errorf("subsystem 2's fault reached subsystem 1: %v", err)
	}
	// A subsystem's status wins over the Target's; the Target's applies
	// to every subsystem.
	tg.SetFaults(Faults{Status: map[uint32]nvme.Status{1: nvme.StatusInvalidField | nvme.StatusDNR}})
	_, err = identify(q1, nvme.CNSNamespace, 1)
	wantStatus(t, err, nvme.StatusInvalidField)
	_, err = identify(q2, nvme.CNSNamespace, 1)
	wantStatus(t, err, nvme.StatusInternalError)
	// An I/O queue names its controller's subsystem.
	_, cntlid := admin(t, addr, s1.NQN(), 0)
	_, err = connect(dial(t, addr, tcp.HostConfig{}), 1, cntlid, s2.NQN(), 0)
	wantStatus(t, err, nvme.StatusConnectInvalidParam)
}

func TestConnectUnknownSubsystem(t *testing.T) {
	_, addr := startTarget(t, threeSubsystems())
	for _, nqn := range []string{"nqn.2026-01.io.example:sub4", "", DefaultNQN, strings.Repeat("n", 255)} {
		q := dial(t, addr, tcp.HostConfig{})
		c, err := q.Do(context.Background(), connectCmd(0, 31, 0), connectDataBytes(nvme.DynamicController, nqn, testHostNQN))
		wantStatus(t, err, nvme.StatusConnectInvalidParam)
		if iattr, ipo := c.Result>>16&1, uint16(c.Result); iattr != 1 || ipo != nvme.ConnectParamSUBNQN.Offset() {
			t.Errorf("%q: IATTR %d IPO %d, want 1 and %d (SUBNQN)", nqn, iattr, ipo, nvme.ConnectParamSUBNQN.Offset())
		}
	}
}

func TestNewRejects(t *testing.T) {
	long := "nqn.2026-01.io.example:" + strings.Repeat("x", 201)
	sub := func(scs ...SubsystemConfig) Config { return Config{Subsystems: scs} }
	tests := []struct {
		name  string
		cfg   Config
		field string // named in the error
	}{
		{"duplicate NQN", sub(SubsystemConfig{NQN: "nqn.a"}, SubsystemConfig{NQN: "nqn.b"}, SubsystemConfig{NQN: "nqn.a"}), "Subsystems[2].NQN"},
		{"empty NQN", sub(SubsystemConfig{NQN: "nqn.a"}, SubsystemConfig{}), "Subsystems[1].NQN"},
		{"NQN of 224 bytes", sub(SubsystemConfig{NQN: long}), "Subsystems[0].NQN"},
		{"NQN of 224 bytes, one subsystem", Config{NQN: long}, "NQN"},
		{"discovery NQN", Config{NQN: nvme.DiscoveryNQN}, "NQN"},
		{"duplicate NSID", sub(SubsystemConfig{NQN: "nqn.a", NamespaceList: []Namespace{{NSID: 4}, {NSID: 4}}}), "Subsystems[0].NamespaceList[1]"},
		{"NSID also in 1..Namespaces", sub(SubsystemConfig{NQN: "nqn.a", Namespaces: 2, NamespaceList: []Namespace{{NSID: 2}}}), "Subsystems[0].NamespaceList[0]"},
		{"NSID 0", sub(SubsystemConfig{NQN: "nqn.a", NamespaceList: []Namespace{{NSID: 0}}}), "Subsystems[0].NamespaceList[0]"},
		{"negative namespaces", sub(SubsystemConfig{NQN: "nqn.a", Namespaces: -1}), "Subsystems[0].Namespaces"},
		{"negative namespaces, one subsystem", Config{Namespaces: -3}, "Namespaces"},
		{"negative service time", sub(SubsystemConfig{NQN: "nqn.a", ServiceTime: -1}), "Subsystems[0].ServiceTime"},
		{"negative delay", Config{Delay: -1}, "Delay"},
		{"block size", sub(SubsystemConfig{NQN: "nqn.a", BlockSize: 1000}), "Subsystems[0].BlockSize"},
		{"size not in blocks", Config{NamespaceSize: 1000}, "NamespaceSize"},
		{"namespace size not in blocks", sub(SubsystemConfig{NQN: "nqn.a", NamespaceList: []Namespace{{NSID: 1, Size: 1000}}}), "Subsystems[0].NamespaceList[0]"},
		{"NQN with NUL", sub(SubsystemConfig{NQN: "nqn.a\x00b"}), "Subsystems[0].NQN holds a NUL"},
		{"NQN not UTF-8", Config{NQN: "nqn.\xc0"}, "NQN is not UTF-8"},
		{"serial too long", Config{Serial: strings.Repeat("s", 21)}, "Serial"},
		{"model too long", sub(SubsystemConfig{NQN: "nqn.a", Model: strings.Repeat("m", 41)}), "Subsystems[0].Model"},
		{"connection fault in a subsystem", sub(SubsystemConfig{NQN: "nqn.a", Faults: Faults{DropAfter: 1}}), "Subsystems[0].Faults.DropAfter"},
		{"both shapes", Config{NQN: "nqn.a", Subsystems: []SubsystemConfig{{NQN: "nqn.b"}}}, "Subsystems set together with NQN"},
		{"admin queue depth", Config{AdminQueueDepth: 1}, "AdminQueueDepth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := New(tt.cfg)
			if err == nil {
				tg.Close()
				t.Fatal("New accepted it")
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q, want ErrInvalidConfig naming %s", err, tt.field)
			}
		})
	}
}

func TestSubsystemLimit(t *testing.T) {
	scs := make([]SubsystemConfig, MaxSubsystems+1)
	for i := range scs {
		scs[i].NQN = "nqn.2026-01.io.example:" + strconv.Itoa(i)
	}
	if _, err := New(Config{Subsystems: scs}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("%d subsystems: %v", len(scs), err)
	}
}
