package fabric

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scanmode"
)

// startTargets starts an embedded subsystem per delay (one-way link
// delay), each with ns namespaces, and returns their ports in order.
func startTargets(t testing.TB, ns int, delays ...time.Duration) []Port {
	var ports []Port
	for i, d := range delays {
		tg, err := target.New(target.Config{NQN: fmt.Sprintf("nqn.2026-01.io.test:s%d", i), Namespaces: ns, Delay: d,
			AdminQueueDepth: 1024, IOQueueDepth: 1024, MaxNSID: uint32(max(ns, 1024))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tg.Close() })
		addr, err := tg.Start(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, Port{Addr: addr, NQN: tg.NQN()})
	}
	return ports
}

// names returns, for each port, the name of its controller and of its
// namespaces in NSID order, or "failed".
func names(ports []Port, res *Result) []string {
	out := make([]string, len(ports))
	for i := range out {
		out[i] = "failed"
	}
	for _, c := range res.Controllers {
		i := slices.IndexFunc(ports, func(p Port) bool { return p == c.Port })
		s := c.Name + ":"
		for _, ns := range c.Scanner.Namespaces() {
			s += " " + ns.Name
		}
		out[i] = s
	}
	return out
}

func scanPorts(t *testing.T, s *Scanner, ports []Port) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := s.Scan(ctx, ports)
	t.Cleanup(res.Close)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Controllers {
		if c.Err != nil || len(c.Result.Failed) > 0 {
			t.Fatalf("%s: %v %v", c.Name, c.Err, c.Result.Failed)
		}
	}
	return res
}

// In ordered mode controllers are numbered in port order and their
// namespaces in list order, on every run, whatever each one's delay.
func TestScanOrdered(t *testing.T) {
	const ms = time.Millisecond
	random := []time.Duration{0, 3 * ms, 6 * ms, 9 * ms, 12 * ms}
	rand.Shuffle(len(random), func(i, j int) { random[i], random[j] = random[j], random[i] })
	tests := []struct {
		name   string
		delays []time.Duration
	}{
		{"reverse", []time.Duration{12 * ms, 9 * ms, 6 * ms, 3 * ms, 0}},
		{"random", random},
		{"equal", []time.Duration{ms, ms, ms, ms, ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ports := startTargets(t, 3, tt.delays...)
			var want []string
			for i := range ports {
				want = append(want, fmt.Sprintf("nvme%d: nvme%dn1 nvme%dn2 nvme%dn3", i, i, i, i))
			}
			for run := range 3 {
				res := scanPorts(t, &Scanner{Mode: scanmode.Ordered}, ports)
				if got := names(ports, res); !slices.Equal(got, want) {
					t.Fatalf("delays %v, run %d: %q, want %q", tt.delays, run, got, want)
				}
			}
		})
	}
}

// In async mode controllers are numbered as they come up: with Connect
// delays in reverse order and far apart (200 ms, beyond the scheduling
// noise of a loaded machine), in reverse; ordered mode numbers them in
// port order all the same. Sync mode numbers them in port order too.
func TestScanModes(t *testing.T) {
	const ms = time.Millisecond
	var subs []target.SubsystemConfig
	for i, d := range []time.Duration{600 * ms, 400 * ms, 200 * ms, 0} {
		subs = append(subs, target.SubsystemConfig{NQN: fmt.Sprintf("nqn.2026-01.io.test:s%d", i), Namespaces: 2, ConnectDelay: d})
	}
	_, addrs := newTarget(t, target.Config{Subsystems: subs, AdminQueueDepth: 1024}, 1)
	var ports []Port
	for _, s := range subs {
		ports = append(ports, Port{Addr: addrs[0], NQN: s.NQN})
	}
	ordered := []string{"nvme0: nvme0n1 nvme0n2", "nvme1: nvme1n1 nvme1n2", "nvme2: nvme2n1 nvme2n2", "nvme3: nvme3n1 nvme3n2"}
	tests := []struct {
		mode scanmode.Mode
		want []string
	}{
		{scanmode.Ordered, ordered},
		{scanmode.Sync, ordered},
		// Namespaces race too: only the controller names are compared.
		{scanmode.Async, []string{"nvme3:", "nvme2:", "nvme1:", "nvme0:"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			res := scanPorts(t, &Scanner{Mode: tt.mode}, ports)
			got := names(ports, res)
			if tt.mode == scanmode.Async {
				for i, s := range got {
					got[i], _, _ = strings.Cut(s, " ")
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%q, want %q", got, tt.want)
			}
		})
	}
}

// A port that refuses, one that hangs and a subsystem whose Connect fails
// are each reported naming address and NQN; they take no number and the
// other controllers are numbered as if they were absent.
func TestScanFailures(t *testing.T) {
	good := startTargets(t, 2, 0, 0)
	ports := []Port{
		good[0],
		{Addr: refusedAddr(t), NQN: "nqn.2026-01.io.test:refused"},
		{Addr: hangListener(t), NQN: "nqn.2026-01.io.test:hangs"},
		{Addr: good[1].Addr, NQN: "nqn.2026-01.io.test:unknown"},
		good[1],
	}
	for _, mode := range []scanmode.Mode{scanmode.Ordered, scanmode.Sync, scanmode.Async} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			res := scanPorts(t, &Scanner{Mode: mode, ConnectTimeout: 3 * time.Second}, ports)
			got := names(ports, res)
			if mode != scanmode.Async {
				want := []string{"nvme0: nvme0n1 nvme0n2", "failed", "failed", "failed", "nvme1: nvme1n1 nvme1n2"}
				if !slices.Equal(got, want) {
					t.Errorf("%q, want %q", got, want)
				}
			} else if len(res.Controllers) != 2 || got[1] != "failed" || got[2] != "failed" || got[3] != "failed" {
				t.Errorf("%q", got)
			}
			causes := []func(error) bool{
				func(err error) bool { return !errors.Is(err, context.DeadlineExceeded) },
				func(err error) bool { return errors.Is(err, context.DeadlineExceeded) },
				func(err error) bool {
					var st nvme.Status
					return errors.As(err, &st) && st.Code() == nvme.StatusConnectInvalidParam
				},
			}
			if len(res.Failed) != 3 {
				t.Fatalf("failed: %v", res.Failed)
			}
			for i, err := range res.Failed {
				var pe *PortError
				if !errors.As(err, &pe) || pe.Addr != ports[i+1].Addr || pe.NQN != ports[i+1].NQN || !causes[i](pe.Err) {
					t.Errorf("failure %d: %v, want one naming %s and %s", i, err, ports[i+1].Addr, ports[i+1].NQN)
				}
			}
		})
	}
}

// Ports found by Discover are scanned: discovery and probe together.
func TestDiscoverAndScan(t *testing.T) {
	ports := startTargets(t, 2, 0, 0)
	d := startDisc(t, nvmEntry(t, ports[1].NQN, ports[1].Addr), nvmEntry(t, ports[0].NQN, ports[0].Addr))
	found := Discover(context.Background(), []string{d.addr}, DiscoverConfig{})
	res := scanPorts(t, &Scanner{Mode: scanmode.Ordered}, found.Ports)
	if len(res.Controllers) != 2 || res.Controllers[0].Port.NQN != ports[1].NQN || res.Controllers[0].Port.ASQSZ != 32 {
		t.Fatalf("controllers %+v", res.Controllers)
	}
}

// Ports beyond MaxControllers are reported, not connected.
func TestScanMaxControllers(t *testing.T) {
	ports := startTargets(t, 1, 0, 0, 0)
	res := scanPorts(t, &Scanner{Mode: scanmode.Ordered, MaxControllers: 2}, ports)
	if got := names(ports, res); !slices.Equal(got, []string{"nvme0: nvme0n1", "nvme1: nvme1n1", "failed"}) {
		t.Errorf("%q", got)
	}
	var pe *PortError
	if len(res.Failed) != 1 || !errors.As(res.Failed[0], &pe) || pe.Addr != ports[2].Addr || !errors.Is(pe, ErrTooManyControllers) {
		t.Errorf("failed %v", res.Failed)
	}
}
