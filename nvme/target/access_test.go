package target

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

const (
	hostA = "nqn.2014-08.org.nvmexpress:uuid:0000000a-0000-0000-0000-000000000000"
	hostB = "nqn.2014-08.org.nvmexpress:uuid:0000000b-0000-0000-0000-000000000000"
)

// connectAs sends an admin queue Connect to subnqn as host hostnqn.
func connectAs(t testing.TB, addr, subnqn, hostnqn string) (nvme.Completion, error) {
	q := dial(t, addr, tcp.HostConfig{})
	return q.Do(context.Background(), connectCmd(0, 31, 0), connectDataBytes(nvme.DynamicController, subnqn, hostnqn))
}

// discoveryNQNs returns the SUBNQNs of the discovery log host reads.
func discoveryNQNs(t *testing.T, addr, host string) (nqns []string, genctr uint64) {
	t.Helper()
	q := dial(t, addr, tcp.HostConfig{})
	if _, err := q.Do(context.Background(), connectCmd(0, 31, 0), connectDataBytes(nvme.DynamicController, nvme.DiscoveryNQN, host)); err != nil {
		t.Fatal(err)
	}
	if err := propSet(q, nvme.PropCC, nvme.CCEnable); err != nil {
		t.Fatal(err)
	}
	page, err := getLog(q, nvme.LogDiscovery, 16<<10, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	gen, _, es, err := nvme.ParseDiscoveryLog(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		nqns = append(nqns, e.SubsystemNQN)
	}
	return nqns, gen
}

// accessConfig: subsystem 1 allows host A, subsystem 2 hosts A and B,
// subsystem 3 any host.
func accessConfig(log *logBuffer) Config {
	cfg := threeSubsystems()
	cfg.Subsystems[0].AllowedHosts = []string{hostA}
	cfg.Subsystems[1].AllowedHosts = []string{hostB, hostA}
	cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	return cfg
}

func TestAllowedHosts(t *testing.T) {
	var log logBuffer
	cfg := accessConfig(&log)
	sub1, sub2, sub3 := cfg.Subsystems[0].NQN, cfg.Subsystems[1].NQN, cfg.Subsystems[2].NQN
	_, addr := startTarget(t, cfg)
	if l := log.String(); !strings.Contains(l, `allows any host" subnqn=`+sub3) || strings.Contains(l, `allows any host" subnqn=`+sub1) {
		t.Errorf("start log:\n%s", l)
	}
	tests := []struct {
		host, sub string
		allowed   bool
	}{
		{hostA, sub1, true}, {hostB, sub1, false}, {testHostNQN, sub1, false},
		{hostA, sub2, true}, {hostB, sub2, true}, {testHostNQN, sub2, false},
		{hostA, sub3, true}, {hostB, sub3, true}, {testHostNQN, sub3, true},
		{"", sub1, false},
	}
	for _, tt := range tests {
		c, err := connectAs(t, addr, tt.sub, tt.host)
		if tt.allowed {
			if err != nil {
				t.Errorf("%s to %s: %v", tt.host, tt.sub, err)
			}
			continue
		}
		var st nvme.Status
		if !errors.As(err, &st) || st != nvme.StatusConnectInvalidHost|nvme.StatusDNR || st&0x7ff != 0x184 {
			t.Errorf("%s to %s: %v, want Connect Invalid Host (184h)", tt.host, tt.sub, err)
		}
		if c.Result != uint64(nvme.ConnectParamHOSTNQN) {
			t.Errorf("%s to %s: IATTR/IPO %#x, want HOSTNQN", tt.host, tt.sub, c.Result)
		}
	}
	if l := log.String(); !strings.Contains(l, "hostnqn="+hostB+" subnqn="+sub1) {
		t.Errorf("the refusal of host B is not in the log:\n%s", l)
	}
	views := []struct {
		host string
		want []string
	}{
		{hostA, []string{sub1, sub2, sub3}},
		{hostB, []string{sub2, sub3}},
		{testHostNQN, []string{sub3}},
	}
	for _, v := range views {
		if got, _ := discoveryNQNs(t, addr, v.host); !slices.Equal(got, v.want) {
			t.Errorf("discovery log of %s lists %q, want %q", v.host, got, v.want)
		}
	}
}

// Allowed hosts change at run time; the discovery log follows, and its
// GENCTR moves.
func TestAllowHostAtRunTime(t *testing.T) {
	var log logBuffer
	cfg := accessConfig(&log)
	tg, addr := startTarget(t, cfg)
	s1 := tg.Subsystem(cfg.Subsystems[0].NQN)
	steps := []struct {
		name    string
		change  func() error
		b       bool // host B may connect to subsystem 1 afterwards
		a       bool // and host A
		anyHost bool
	}{
		{"allow B", func() error { return s1.AllowHost(hostB) }, true, true, false},
		{"disallow A", func() error { return s1.DisallowHost(hostA) }, true, false, false},
		{"disallow B", func() error { return s1.DisallowHost(hostB) }, false, false, false},
		{"any host", func() error { s1.AllowAnyHost(); return nil }, true, true, true},
		{"allow A only", func() error { return s1.AllowHost(hostA) }, false, true, false},
	}
	_, gen := discoveryNQNs(t, addr, hostB)
	for _, st := range steps {
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for _, h := range []struct {
			nqn string
			ok  bool
		}{{hostA, st.a}, {hostB, st.b}} {
			_, err := connectAs(t, addr, s1.NQN(), h.nqn)
			if (err == nil) != h.ok {
				t.Errorf("%s: Connect of %s: %v", st.name, h.nqn, err)
			}
			nqns, _ := discoveryNQNs(t, addr, h.nqn)
			if slices.Contains(nqns, s1.NQN()) != h.ok {
				t.Errorf("%s: discovery log of %s: %q", st.name, h.nqn, nqns)
			}
		}
		_, g := discoveryNQNs(t, addr, hostB)
		if g == gen {
			t.Errorf("%s: GENCTR still %d", st.name, g)
		}
		gen = g
		if _, anyHost := s1.AllowedHosts(); anyHost != st.anyHost {
			t.Errorf("%s: any host %v", st.name, anyHost)
		}
	}
	if err := s1.DisallowHost(hostB); !errors.Is(err, ErrNoHost) {
		t.Errorf("DisallowHost of a host not allowed: %v", err)
	}
	if err := s1.AllowHost(strings.Repeat("h", 224)); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("AllowHost of 224 bytes: %v", err)
	}
	if hosts, _ := s1.AllowedHosts(); !slices.Equal(hosts, []string{hostA}) {
		t.Errorf("allowed hosts %q", hosts)
	}
}

func TestAllowedHostsRejects(t *testing.T) {
	tests := []struct {
		hosts []string
		field string
	}{
		{[]string{hostA, ""}, "Subsystems[0].AllowedHosts[1]"},
		{[]string{hostA, hostA}, "Subsystems[0].AllowedHosts[1]"},
		{[]string{strings.Repeat("h", 224)}, "Subsystems[0].AllowedHosts[0]"},
		{[]string{hostA, "nqn.h\x00"}, "Subsystems[0].AllowedHosts[1] holds a NUL"},
		{[]string{"nqn.h\xff"}, "Subsystems[0].AllowedHosts[0] is not UTF-8"},
	}
	for _, tt := range tests {
		_, err := New(Config{Subsystems: []SubsystemConfig{{NQN: "nqn.a", AllowedHosts: tt.hosts}}})
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%q: %v, want an error naming %s", tt.hosts, err, tt.field)
		}
	}
}
