package fabric

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scanmode"
)

// newTarget starts a target for cfg on nports ports of 127.0.0.1.
func newTarget(t *testing.T, cfg target.Config, nports int) (*target.Target, []string) {
	tg, err := target.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	var addrs []string
	for range nports {
		a, err := tg.Start(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a)
	}
	return tg, addrs
}

// A target serving three subsystems on two ports, whose discovery log
// changes while it is read and refers to a second target that refers
// back: every (subsystem, port) pair and the second target's subsystem
// are scanned, named in log order whatever each subsystem's delay.
func TestDiscoverTargets(t *testing.T) {
	const ms = time.Millisecond
	var subs []target.SubsystemConfig
	for i, d := range []time.Duration{40 * ms, 20 * ms, 0} { // slowest first
		subs = append(subs, target.SubsystemConfig{NQN: fmt.Sprintf("nqn.2026-01.io.test:s%d", i), Namespaces: 2, ConnectDelay: d})
	}
	a, aAddrs := newTarget(t, target.Config{Subsystems: subs, Faults: target.Faults{DiscoveryChanges: 2}}, 2)
	_, bAddrs := newTarget(t, target.Config{NQN: "nqn.2026-01.io.test:b", Namespaces: 1, Referrals: []target.Referral{{Addr: aAddrs[0], PortID: 1}}}, 1)
	if err := a.AddReferral(target.Referral{Addr: bAddrs[0], PortID: 3}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := Discover(ctx, []string{aAddrs[0]}, DiscoverConfig{Timeout: 5 * time.Second})
	var want []string
	for _, addr := range aAddrs {
		for _, s := range subs {
			want = append(want, s.NQN+"@"+addr)
		}
	}
	want = append(want, "nqn.2026-01.io.test:b@"+bAddrs[0])
	if got := portNames(d.Ports); !slices.Equal(got, want) {
		t.Fatalf("ports %q, want %q", got, want)
	}
	if len(d.Errors) != 1 || !errors.Is(d.Errors[0], ErrReferralLoop) {
		t.Fatalf("errors %v, want the loop back to %s", d.Errors, aAddrs[0])
	}
	for run := range 2 {
		res := scanPorts(t, &Scanner{Mode: scanmode.Ordered}, d.Ports)
		for i, c := range res.Controllers {
			if c.Port != d.Ports[i] || c.Name != fmt.Sprintf("nvme%d", i) {
				t.Fatalf("run %d: controller %d is %s for %v, want nvme%d for %v", run, i, c.Name, c.Port, i, d.Ports[i])
			}
		}
		if len(res.Controllers) != len(d.Ports) {
			t.Fatalf("run %d: %d controllers, failed %v", run, len(res.Controllers), res.Failed)
		}
	}
}

// GENCTR changing during more reads than the retries fails the log,
// naming the discovery controller.
func TestDiscoverLogChanging(t *testing.T) {
	_, addrs := newTarget(t, target.Config{Namespaces: 1, Faults: target.Faults{DiscoveryChanges: 1000}}, 1)
	d := Discover(context.Background(), addrs, DiscoverConfig{Timeout: 5 * time.Second})
	var pe *PortError
	if len(d.Ports) != 0 || len(d.Errors) != 1 || !errors.As(d.Errors[0], &pe) || pe.Addr != addrs[0] || !errors.Is(pe, host.ErrLogChanging) {
		t.Fatalf("ports %v, errors %v", d.Ports, d.Errors)
	}
}
