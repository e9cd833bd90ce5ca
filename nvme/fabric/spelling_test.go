package fabric

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
)

// One address spelled several ways (IPv4-mapped IPv6, leading zeros in
// the port) is one address: its discovery log is read once and its ports
// listed once.
func TestDiscoverSpellings(t *testing.T) {
	d0 := startDisc(t)
	_, port, _ := net.SplitHostPort(d0.addr)
	mapped := net.JoinHostPort("::ffff:127.0.0.1", port)
	spelled := func(sub uint8, nqn, traddr, trsvcid string) nvme.DiscoveryEntry {
		return nvme.DiscoveryEntry{TransportType: nvme.TransportTCP, AddressFamily: 1, SubsystemType: sub,
			CNTLID: nvme.DynamicController, AdminQueueMax: 32, ServiceID: trsvcid, SubsystemNQN: nqn, Address: traddr}
	}
	d0.log = func(int) []byte {
		return nvme.AppendDiscoveryLog(nil, 1, []nvme.DiscoveryEntry{
			spelled(nvme.SubtypeNVM, "nqn.s1", "127.0.0.1", "4420"),
			spelled(nvme.SubtypeNVM, "nqn.s1", "::ffff:127.0.0.1", "4420"),
			spelled(nvme.SubtypeNVM, "nqn.s1", "127.0.0.1", "04420"),
			spelled(nvme.SubtypeNVM, "nqn.s2", "::ffff:7f00:1", "4421"),
			spelled(nvme.SubtypeReferral, nvme.DiscoveryNQN, "::ffff:127.0.0.1", port),
			spelled(nvme.SubtypeReferral, nvme.DiscoveryNQN, "127.0.0.1", "0"+port),
		})
	}
	tests := []struct {
		name  string
		addrs []string
		cfg   DiscoverConfig
		want  []string
	}{
		{"advertised", []string{d0.addr}, DiscoverConfig{}, []string{"nqn.s1@127.0.0.1:4420", "nqn.s2@127.0.0.1:4421"}},
		{"given mapped", []string{mapped, d0.addr}, DiscoverConfig{}, []string{"nqn.s1@127.0.0.1:4420", "nqn.s2@127.0.0.1:4421"}},
		{"mapped AddrMap", []string{d0.addr}, DiscoverConfig{AddrMap: map[string]string{"[::ffff:127.0.0.1]:4421": "127.0.0.1:5421"}},
			[]string{"nqn.s1@127.0.0.1:4420", "nqn.s2@127.0.0.1:5421"}},
		{"discovery address", []string{mapped}, DiscoverConfig{UseDiscoveryAddr: true}, []string{"nqn.s1@" + d0.addr, "nqn.s2@" + d0.addr}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h0, _ := d0.stats()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d := Discover(ctx, tt.addrs, tt.cfg)
			if got := portNames(d.Ports); !slices.Equal(got, tt.want) {
				t.Errorf("ports %q, want %q", got, tt.want)
			}
			if d.Logs != 1 {
				t.Errorf("%d logs read, want 1", d.Logs)
			}
			if h, _ := d0.stats(); h-h0 != 2 {
				t.Errorf("%d header reads, want 2 (one log read)", h-h0)
			}
			for _, err := range d.Errors {
				if !errors.Is(err, ErrDuplicate) && !errors.Is(err, ErrReferralLoop) {
					t.Errorf("error %v, want duplicates and loops only", err)
				}
			}
		})
	}
}

// Dedup keeps the first of the ports with one NQN at one address, however
// the address is spelled, and reports the others.
func TestDedup(t *testing.T) {
	ports := []Port{
		{Addr: "127.0.0.1:4420", NQN: "nqn.a"},
		{Addr: "[::ffff:127.0.0.1]:4420", NQN: "nqn.a"},
		{Addr: "127.0.0.1:04420", NQN: "nqn.a"},
		{Addr: "127.0.0.1:4420", NQN: "nqn.b"},
		{Addr: "[::1]:4420", NQN: "nqn.a"},
		{Addr: "[0:0::1]:4420", NQN: "nqn.a"},
		{Addr: "localhost:4420", NQN: "nqn.a"}, // a name is never looked up
	}
	got, dups := Dedup(ports)
	want := []Port{ports[0], ports[3], ports[4], ports[6]}
	if !slices.Equal(got, want) {
		t.Errorf("ports %v, want %v", got, want)
	}
	wantDups := []Port{ports[1], ports[2], ports[5]}
	if len(dups) != len(wantDups) {
		t.Fatalf("duplicates %v, want %d", dups, len(wantDups))
	}
	for i, err := range dups {
		var pe *PortError
		if !errors.As(err, &pe) || !errors.Is(err, ErrDuplicate) || pe.Addr != wantDups[i].Addr || pe.NQN != wantDups[i].NQN {
			t.Errorf("duplicate %d: %v, want %v", i, err, wantDups[i])
		}
	}
}

// A referral cycle of any length is read once round and reported once;
// each discovery controller's ports are listed once.
func TestDiscoverReferralCycles(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ring := make([]*discServer, n)
			for i := range ring {
				ring[i] = startDisc(t)
			}
			var want []string
			for i, s := range ring {
				next := ring[(i+1)%n]
				nqn := fmt.Sprintf("nqn.s%d", i)
				es := []nvme.DiscoveryEntry{nvmEntry(t, nqn, "127.0.0.1:5001"), referral(t, next.addr)}
				s.log = func(int) []byte { return nvme.AppendDiscoveryLog(nil, 1, es) }
				want = append(want, nqn+"@127.0.0.1:5001")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Entering the ring twice, at its start and in its middle.
			d := Discover(ctx, []string{ring[0].addr, ring[n/2].addr}, DiscoverConfig{})
			if got := portNames(d.Ports); !slices.Equal(got, want) {
				t.Errorf("ports %q, want %q", got, want)
			}
			if d.Logs != n {
				t.Errorf("%d logs read, want %d", d.Logs, n)
			}
			if len(d.Errors) != 1 || !errors.Is(d.Errors[0], ErrReferralLoop) {
				t.Errorf("errors %v, want one referral loop", d.Errors)
			}
		})
	}
}
