package fabric

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// entries returns n NVM subsystem entries, gen telling them apart.
func entries(t *testing.T, gen, n int) []nvme.DiscoveryEntry {
	var es []nvme.DiscoveryEntry
	for i := range n {
		es = append(es, nvmEntry(t, fmt.Sprintf("nqn.2026-01.io.test:gen%d-%d", gen, i), fmt.Sprintf("127.0.0.%d:4420", i%250+1)))
	}
	return es
}

// A discovery log is read header first, its records in chunks at
// increasing offsets, the header again; again while GENCTR changes.
func TestDiscoveryLog(t *testing.T) {
	tests := []struct {
		name           string
		log            func(n int) []byte
		want           []nvme.DiscoveryEntry
		wantErr        error
		headers, reads int
		wantGen        uint64
	}{
		{name: "empty", log: func(int) []byte { return nvme.AppendDiscoveryLog(nil, 7, nil) },
			headers: 2, reads: 2, wantGen: 7},
		{name: "40 records in 3 chunks", log: func(int) []byte { return nvme.AppendDiscoveryLog(nil, 1, entries(t, 0, 40)) },
			want: entries(t, 0, 40), headers: 2, reads: 5, wantGen: 1},
		{name: "GENCTR changes during two reads",
			log: func(n int) []byte {
				g := min(n, 2)
				return nvme.AppendDiscoveryLog(nil, uint64(g), entries(t, g, 17+g))
			},
			// headers 0 (gen 0), 1 (gen 1: again), 2 (gen 2: again), 3 (gen 2: done)
			want: entries(t, 2, 19), headers: 4, reads: 4 + 2 + 2 + 2, wantGen: 2},
		{name: "GENCTR always changing",
			log:     func(n int) []byte { return nvme.AppendDiscoveryLog(nil, uint64(n), entries(t, n, 1)) },
			wantErr: host.ErrLogChanging, headers: host.DiscoveryLogRetries + 2, reads: 2*(host.DiscoveryLogRetries+1) + 1},
		{name: "NUMREC beyond the limit",
			log: func(int) []byte {
				b := nvme.AppendDiscoveryLog(nil, 1, nil)
				b[8], b[13] = 1, 1 // NUMREC 2^40 + 1
				return b
			},
			wantErr: host.ErrTooManyRecords, headers: 1, reads: 1},
		{name: "NUMREC one above the limit",
			log: func(int) []byte {
				b := nvme.AppendDiscoveryLog(nil, 1, nil)
				b[8], b[9] = (host.MaxDiscoveryRecords+1)&0xff, (host.MaxDiscoveryRecords+1)>>8
				return b
			},
			wantErr: host.ErrTooManyRecords, headers: 1, reads: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startDiscFunc(t, tt.log)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := host.Connect(ctx, s.addr, host.Config{KATO: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			log, err := c.DiscoveryLog(ctx)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("DiscoveryLog: %v, want %v", err, tt.wantErr)
			}
			if h, r := s.stats(); h != tt.headers || r != tt.reads {
				t.Errorf("%d header reads, %d Get Log Page: want %d, %d", h, r, tt.headers, tt.reads)
			}
			if err != nil {
				return
			}
			if log.GENCTR != tt.wantGen || !slices.Equal(log.Entries, tt.want) {
				t.Errorf("GENCTR %d, %d entries %v\nwant %d, %d entries %v", log.GENCTR, len(log.Entries), log.Entries, tt.wantGen, len(tt.want), tt.want)
			}
		})
	}
}

// ports returns "NQN@addr" for each port.
func portNames(ps []Port) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.NQN+"@"+p.Addr)
	}
	return out
}

// Referrals are followed once each, loops reported, duplicates dropped,
// unusable entries reported, and the ports listed depth first in log
// order whatever the timing.
func TestDiscoverReferrals(t *testing.T) {
	c := startDisc(t) // filled in below: entries need the addresses
	b := startDisc(t)
	// a lists s1, refers to b, lists s2; b lists s3, a duplicate of s1,
	// refers back to a (a loop), to itself (a loop) and to c; c lists s4
	// and refers to b (a loop through b).
	a := startDiscFunc(t, func(int) []byte {
		return nvme.AppendDiscoveryLog(nil, 1, []nvme.DiscoveryEntry{
			nvmEntry(t, "nqn.s1", "127.0.0.1:5001"), referral(t, b.addr), nvmEntry(t, "nqn.s2", "127.0.0.1:5002"),
		})
	})
	b.log = func(int) []byte {
		return nvme.AppendDiscoveryLog(nil, 1, []nvme.DiscoveryEntry{
			nvmEntry(t, "nqn.s3", "127.0.0.1:5003"), nvmEntry(t, "nqn.s1", "127.0.0.1:5001"),
			referral(t, a.addr), referral(t, b.addr), referral(t, c.addr),
		})
	}
	c.log = func(int) []byte {
		return nvme.AppendDiscoveryLog(nil, 1, []nvme.DiscoveryEntry{
			nvmEntry(t, "nqn.s4", "127.0.0.1:5004"), referral(t, b.addr),
			{TransportType: 1, SubsystemType: nvme.SubtypeNVM, SubsystemNQN: "nqn.rdma", Address: "127.0.0.1", ServiceID: "4420"},
			{TransportType: nvme.TransportTCP, SubsystemType: nvme.SubtypeNVM, SubsystemNQN: "nqn.name", Address: "example.com", ServiceID: "4420"},
			{TransportType: nvme.TransportTCP, SubsystemType: nvme.SubtypeNVM, SubsystemNQN: "nqn.port", Address: "127.0.0.1", ServiceID: "70000"},
			{TransportType: nvme.TransportTCP, SubsystemType: 9, SubsystemNQN: "nqn.subtype", Address: "127.0.0.1", ServiceID: "4420"},
			{TransportType: nvme.TransportTCP, SubsystemType: nvme.SubtypeCurrentDiscovery, SubsystemNQN: nvme.DiscoveryNQN, Address: "127.0.0.1", ServiceID: "8009"},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// b given too, after a: read once, its ports in a's referral's place.
	d := Discover(ctx, []string{a.addr, b.addr}, DiscoverConfig{Timeout: 5 * time.Second})
	want := []string{"nqn.s1@127.0.0.1:5001", "nqn.s3@127.0.0.1:5003", "nqn.s4@127.0.0.1:5004", "nqn.s2@127.0.0.1:5002"}
	if got := portNames(d.Ports); !slices.Equal(got, want) {
		t.Errorf("ports %q, want %q", got, want)
	}
	if d.Logs != 3 {
		t.Errorf("%d logs read, want 3", d.Logs)
	}
	for _, s := range []*discServer{a, b, c} {
		if h, _ := s.stats(); h != 2 {
			t.Errorf("discovery controller %s: %d header reads, want 2 (one log read)", s.addr, h)
		}
	}
	wantErrs := []struct {
		addr, nqn string
		err       error
	}{
		{"127.0.0.1:5001", "nqn.s1", ErrDuplicate},
		{a.addr, nvme.DiscoveryNQN, ErrReferralLoop},
		{b.addr, nvme.DiscoveryNQN, ErrReferralLoop},
		{b.addr, nvme.DiscoveryNQN, ErrReferralLoop},
		{c.addr, "nqn.rdma", ErrUnusable},
		{c.addr, "nqn.name", ErrUnusable},
		{c.addr, "nqn.port", ErrUnusable},
		{c.addr, "nqn.subtype", ErrUnusable},
	}
	if len(d.Errors) != len(wantErrs) {
		t.Fatalf("errors %v, want %d", d.Errors, len(wantErrs))
	}
	for i, w := range wantErrs {
		var pe *PortError
		if !errors.As(d.Errors[i], &pe) || pe.Addr != w.addr || pe.NQN != w.nqn || !errors.Is(pe, w.err) {
			t.Errorf("error %d: %v, want %v naming %s and %s", i, d.Errors[i], w.err, w.addr, w.nqn)
		}
	}
}

// A discovery controller that cannot be reached, or that hangs, is
// reported; the others are read.
func TestDiscoverFailures(t *testing.T) {
	good := startDisc(t, nvmEntry(t, "nqn.s1", "127.0.0.1:5001"))
	hang := hangListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := Discover(ctx, []string{refusedAddr(t), hang, good.addr}, DiscoverConfig{Timeout: 2 * time.Second})
	if got := portNames(d.Ports); !slices.Equal(got, []string{"nqn.s1@127.0.0.1:5001"}) {
		t.Errorf("ports %q", got)
	}
	if len(d.Errors) != 2 {
		t.Fatalf("errors %v, want 2", d.Errors)
	}
	var pe *PortError
	if !errors.As(d.Errors[1], &pe) || pe.Addr != hang || !errors.Is(pe, context.DeadlineExceeded) {
		t.Errorf("hanging controller: %v", d.Errors[1])
	}
}

// AddrMap and UseDiscoveryAddr dial advertised addresses elsewhere.
func TestDiscoverAddresses(t *testing.T) {
	d0 := startDisc(t, nvmEntry(t, "nqn.s1", "10.0.2.15:4420"), nvmEntry(t, "nqn.s2", "10.0.2.15:4421"))
	tests := []struct {
		name string
		cfg  DiscoverConfig
		want []string
	}{
		{"advertised", DiscoverConfig{}, []string{"nqn.s1@10.0.2.15:4420", "nqn.s2@10.0.2.15:4421"}},
		{"mapped", DiscoverConfig{AddrMap: map[string]string{"10.0.2.15:4421": "127.0.0.1:14421"}},
			[]string{"nqn.s1@10.0.2.15:4420", "nqn.s2@127.0.0.1:14421"}},
		{"discovery address", DiscoverConfig{UseDiscoveryAddr: true}, []string{"nqn.s1@" + d0.addr, "nqn.s2@" + d0.addr}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Discover(context.Background(), []string{d0.addr}, tt.cfg)
			if got := portNames(d.Ports); !slices.Equal(got, tt.want) || len(d.Errors) > 0 {
				t.Errorf("ports %q, errors %v; want %q", got, d.Errors, tt.want)
			}
			for _, p := range d.Ports {
				if p.From != d0.addr || p.Advertised[:9] != "10.0.2.15" {
					t.Errorf("port %+v: From, Advertised", p)
				}
			}
		})
	}
}

// More discovery controllers than the limit are not read.
func TestDiscoverLimit(t *testing.T) {
	var chain []*discServer
	for range 4 {
		chain = append(chain, startDisc(t))
	}
	for i, s := range chain {
		es := []nvme.DiscoveryEntry{nvmEntry(t, fmt.Sprintf("nqn.s%d", i), "127.0.0.1:5001")}
		if i+1 < len(chain) {
			es = append(es, referral(t, chain[i+1].addr))
		}
		s.log = func(int) []byte { return nvme.AppendDiscoveryLog(nil, 1, es) }
	}
	d := Discover(context.Background(), []string{chain[0].addr}, DiscoverConfig{MaxDiscoveryControllers: 2})
	if got := portNames(d.Ports); !slices.Equal(got, []string{"nqn.s0@127.0.0.1:5001", "nqn.s1@127.0.0.1:5001"}) {
		t.Errorf("ports %q", got)
	}
	if len(d.Errors) != 1 || !errors.Is(d.Errors[0], ErrTooManyLogs) {
		t.Errorf("errors %v, want one ErrTooManyLogs", d.Errors)
	}
	if h, _ := chain[2].stats(); h != 0 {
		t.Errorf("the third discovery controller was read")
	}
}
