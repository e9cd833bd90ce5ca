package fabric

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/scanmode"
)

// Subsystems that misbehave after accepting the connection: each fails
// alone, within ConnectTimeout or the scan's own timeout, and the others
// are numbered in port order around it.
func TestScanMisbehaving(t *testing.T) {
	identify := func(cns nvme.CNS) func(*nvme.Command) bool {
		return func(c *nvme.Command) bool { return c.Opcode == nvme.OpIdentify && nvme.CNS(c.CDW10&0xff) == cns }
	}
	connect := func(c *nvme.Command) bool {
		return c.Opcode == nvme.OpFabrics && c.FabricsType() == nvme.FabricsConnect
	}
	tests := []struct {
		name   string
		match  func(*nvme.Command) bool
		drop   bool
		numbed bool // comes up, and so takes a number, its scan failing
	}{
		{"hangs on Connect", connect, false, false},
		{"drops on Connect", connect, true, false},
		{"hangs on Identify Controller", identify(nvme.CNSController), false, false},
		{"drops on Identify Controller", identify(nvme.CNSController), true, false},
		{"hangs on the NSID list", identify(nvme.CNSActiveNamespaces), false, true},
		{"drops on the NSID list", identify(nvme.CNSActiveNamespaces), true, true},
	}
	for _, tt := range tests {
		for _, mode := range []scanmode.Mode{scanmode.Ordered, scanmode.Sync, scanmode.Async} {
			t.Run(tt.name+"/"+mode.String(), func(t *testing.T) {
				t.Parallel()
				good := startTargets(t, 1, 0, 0)
				bad := startDisc(t)
				bad.misbehave = func(c *nvme.Command) (bool, bool) { m := tt.match(c); return m && !tt.drop, m && tt.drop }
				ports := []Port{good[0], {Addr: bad.addr, NQN: "nqn.2026-01.io.test:bad"}, good[1]}
				const bound = 3 * time.Second // generous: a loaded machine must not fail the good ports
				s := &Scanner{Mode: mode, ConnectTimeout: bound, ScanTimeout: bound}
				s.Host.CommandTimeout = bound
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				res, err := s.Scan(ctx, ports)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Close()
				got := names(ports, res)
				want := []string{"nvme0: nvme0n1", "failed", "nvme1: nvme1n1"}
				if tt.numbed {
					want = []string{"nvme0: nvme0n1", "nvme1:", "nvme2: nvme2n1"}
				}
				if mode == scanmode.Async { // numbered as they come up
					got, want = shape(got), shape(want)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%q, want %q", got, want)
				}
				if tt.numbed {
					for _, c := range res.Controllers {
						if c.Port.Addr == bad.addr && c.Err == nil && len(c.Result.Failed) == 0 {
							t.Errorf("%s: scan of a misbehaving controller did not fail", c.Name)
						}
					}
					return
				}
				var pe *PortError
				if len(res.Failed) != 1 || !errors.As(res.Failed[0], &pe) || pe.Addr != bad.addr || pe.NQN != ports[1].NQN {
					t.Errorf("failed %v, want one naming %s", res.Failed, bad.addr)
				}
			})
		}
	}
}

// shape returns each of names without its controller's number: "failed",
// or the count of namespaces of the controller that came up.
func shape(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n
		if n != "failed" {
			out[i] = strconv.Itoa(len(strings.Fields(n)) - 1)
		}
	}
	return out
}
