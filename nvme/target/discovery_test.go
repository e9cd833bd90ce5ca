package target

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/tcp"
)

// wantEntry is a discovery log entry as the specification lays it out.
type wantEntry struct {
	subtype uint8
	portID  uint16
	nqn     string
	addr    string // IP:port
}

// bytes returns the 1024-byte record of e (NVMe over Fabrics, Discovery
// Log Page Entry), written field by field from the specification's
// offsets, not by the codec under test.
func (e wantEntry) bytes(asqsz uint16) []byte {
	host, port, _ := net.SplitHostPort(e.addr)
	b := make([]byte, 1024)
	b[0] = 3 // TRTYPE: TCP
	b[1] = 1 // ADRFAM: IPv4
	if strings.Contains(host, ":") {
		b[1] = 2 // IPv6
	}
	b[2] = e.subtype
	b[3] = 0 // TREQ: not specified
	binary.LittleEndian.PutUint16(b[4:], e.portID)
	binary.LittleEndian.PutUint16(b[6:], 0xffff) // CNTLID: dynamic
	binary.LittleEndian.PutUint16(b[8:], asqsz)
	copy(b[32:64], bytes.Repeat([]byte{' '}, 32))
	copy(b[32:], port)
	copy(b[256:], e.nqn)
	copy(b[512:768], bytes.Repeat([]byte{' '}, 256))
	copy(b[512:], host)
	return b
}

// readDiscoveryLog reads the discovery log as nvme-cli does: the header,
// then each entry at its offset. It returns the GENCTR of both reads.
func readDiscoveryLog(t *testing.T, q *tcp.HostQueue) (gen1, gen2 uint64, entries [][]byte) {
	t.Helper()
	hdr, err := getLog(q, nvme.LogDiscovery, nvme.DiscoveryLogHeaderSize, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(hdr[8:])
	if n > 64 {
		t.Fatalf("NUMREC %d", n)
	}
	for i := range n {
		e, err := getLog(q, nvme.LogDiscovery, nvme.DiscoveryEntrySize, nvme.DiscoveryLogHeaderSize+i*nvme.DiscoveryEntrySize, false)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	again, err := getLog(q, nvme.LogDiscovery, 16, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	return binary.LittleEndian.Uint64(hdr), binary.LittleEndian.Uint64(again), entries
}

func TestDiscoveryLogFabric(t *testing.T) {
	cfg := threeSubsystems()
	cfg.Referrals = []Referral{{Addr: "192.0.2.7:8009", PortID: 9}, {Addr: "[2001:db8::1]:4420", PortID: 10}}
	tg := newTarget(t, cfg)
	defer tg.Close()
	addr1, err := tg.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The second port listens on every address: the log gives the one
	// the host connected to.
	wild, err := tg.Start(context.Background(), "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	_, wildPort, _ := net.SplitHostPort(wild)
	addr2 := net.JoinHostPort("127.0.0.1", wildPort)
	var want []wantEntry
	for i, a := range []string{addr1, addr2} {
		for _, s := range cfg.Subsystems {
			want = append(want, wantEntry{2, uint16(i + 1), s.NQN, a})
		}
	}
	for _, r := range cfg.Referrals {
		want = append(want, wantEntry{1, r.PortID, nvme.DiscoveryNQN, r.Addr})
	}
	for _, via := range []string{addr1, addr2} {
		t.Run(via, func(t *testing.T) {
			q, _ := admin(t, via, nvme.DiscoveryNQN, 0)
			gen1, gen2, entries := readDiscoveryLog(t, q)
			if gen1 != gen2 {
				t.Errorf("GENCTR %d then %d with nothing changed", gen1, gen2)
			}
			if len(entries) != len(want) {
				t.Fatalf("%d entries, want %d", len(entries), len(want))
			}
			for i, w := range want {
				if wb := w.bytes(DefaultAdminQueueDepth); !bytes.Equal(entries[i], wb) {
					t.Errorf("entry %d = % x…, want % x… (%+v)", i, entries[i][:16], wb[:16], w)
				}
			}
			// The codec reads back what the specification's layout says.
			page, err := getLog(q, nvme.LogDiscovery, nvme.DiscoveryLogHeaderSize+len(want)*nvme.DiscoveryEntrySize, 0, false)
			if err != nil {
				t.Fatal(err)
			}
			_, numrec, es, err := nvme.ParseDiscoveryLog(page)
			if err != nil || numrec != uint64(len(want)) || es[3].PortID != 2 || es[3].Address != "127.0.0.1" || es[6].SubsystemType != 1 {
				t.Errorf("ParseDiscoveryLog: %d records, %+v, %v", numrec, es, err)
			}
		})
	}
}

func TestDiscoveryLogIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	tg := newTarget(t, Config{})
	defer tg.Close()
	done := make(chan error)
	go func() { done <- tg.ServePort(context.Background(), ln, PortConfig{PortID: 7}) }()
	defer func() {
		tg.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	q, _ := admin(t, ln.Addr().String(), nvme.DiscoveryNQN, 0)
	_, _, entries := readDiscoveryLog(t, q)
	w := wantEntry{2, 7, DefaultNQN, ln.Addr().String()}
	if len(entries) != 1 || !bytes.Equal(entries[0], w.bytes(DefaultAdminQueueDepth)) {
		t.Errorf("entries % x", entries)
	}
}

// GENCTR changes with ports and referrals, not with namespaces.
func TestDiscoveryGenctr(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 1})
	q, _ := admin(t, addr, nvme.DiscoveryNQN, 0)
	genctr := func() uint64 {
		t.Helper()
		b, err := getLog(q, nvme.LogDiscovery, 16, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		return binary.LittleEndian.Uint64(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tests := []struct {
		name   string
		change func() error
		moves  bool
	}{
		{"attach", func() error { return tg.Attach(Namespace{NSID: 2}) }, false},
		{"detach", func() error { return tg.Detach(2) }, false},
		{"add referral", func() error { return tg.AddReferral(Referral{Addr: "10.0.0.1:8009"}) }, true},
		{"remove referral", func() error { return tg.RemoveReferral("10.0.0.1:8009") }, true},
		{"add port", func() error { _, err := tg.Start(ctx, ""); return err }, true},
		{"failed change", func() error { tg.RemoveReferral("10.0.0.1:8009"); return nil }, false},
	}
	for _, tt := range tests {
		before := genctr()
		if err := tt.change(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if moved := genctr() != before; moved != tt.moves {
			t.Errorf("%s: GENCTR moved %v, want %v", tt.name, moved, tt.moves)
		}
	}
	if n := len(tg.Ports()); n != 2 {
		t.Fatalf("%d ports", n)
	}
	// Removing a port: its Serve ends.
	before := genctr()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- tg.ServePort(sctx, ln, PortConfig{PortID: 100}) }()
	// A host connected through the new port sees it: it is served.
	qp, _ := admin(t, ln.Addr().String(), nvme.DiscoveryNQN, 0)
	if _, _, es := readDiscoveryLog(t, qp); len(es) != 3 {
		t.Errorf("%d entries with three ports", len(es))
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if after := genctr(); after < before+2 {
		t.Errorf("GENCTR %d → %d across a port's add and removal", before, after)
	}
	if err := tg.ServePort(ctx, mustListen(t), PortConfig{PortID: 1}); err == nil {
		t.Error("PORTID 1 served twice")
	}
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// The DiscoveryChanges fault moves GENCTR between a host's reads.
func TestDiscoveryChangesFault(t *testing.T) {
	tests := []struct{ changes, reads, moved int }{{0, 4, 0}, {1, 4, 1}, {3, 4, 3}, {10, 4, 4}}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.changes), func(t *testing.T) {
			tg, addr := startTarget(t, threeSubsystems())
			q, _ := admin(t, addr, nvme.DiscoveryNQN, 0)
			tg.SetFaults(Faults{DiscoveryChanges: tt.changes})
			var gens []uint64
			for range tt.reads + 1 {
				b, err := getLog(q, nvme.LogDiscovery, 16, 0, false)
				if err != nil {
					t.Fatal(err)
				}
				gens = append(gens, binary.LittleEndian.Uint64(b))
			}
			moved := 0
			for i := 1; i < len(gens); i++ {
				if gens[i] != gens[i-1] {
					moved++
				}
			}
			if moved != tt.moved {
				t.Errorf("GENCTR %v: moved %d times, want %d", gens, moved, tt.moved)
			}
		})
	}
}

func TestReferralRejects(t *testing.T) {
	tests := []Referral{{Addr: "example.com:8009"}, {Addr: "10.0.0.1"}, {Addr: "10.0.0.1:0"}, {Addr: "10.0.0.1:70000"}, {Addr: ""}}
	for _, r := range tests {
		if _, err := New(Config{Referrals: []Referral{r}}); err == nil || !strings.Contains(err.Error(), "Referrals[0].Addr") {
			t.Errorf("%+v: %v", r, err)
		}
	}
	if _, err := New(Config{Referrals: []Referral{{Addr: "10.0.0.1:1"}, {Addr: "10.0.0.1:1"}}}); err == nil || !strings.Contains(err.Error(), "Referrals[1].Addr") {
		t.Errorf("duplicate referral: %v", err)
	}
}

// A host that re-reads the log while GENCTR moves gets it once the
// changes stop, and an error if they do not. host.Discover reads the
// header, the records (three: one Get Log Page) and the header again, and
// starts over from the last header at most DiscoveryLogRetries times: try
// k (from 1) is the first to see no change once the changes stop before
// its first header read, Get Log Page number 2k-1.
func TestDiscoverWhileGenctrMoves(t *testing.T) {
	last := 2 * host.DiscoveryLogRetries // changes the last try still outlasts
	tests := []struct {
		changes int
		ok      bool
	}{{0, true}, {1, true}, {3, true}, {last, true}, {last + 1, false}, {100, false}}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.changes), func(t *testing.T) {
			cfg := threeSubsystems()
			cfg.Faults.DiscoveryChanges = tt.changes
			_, addr := startTarget(t, cfg)
			es, err := host.Discover(context.Background(), addr, host.Config{HostNQN: testHostNQN, KATO: -1})
			if (err == nil) != tt.ok {
				t.Fatalf("Discover: %v", err)
			}
			if tt.ok && len(es) != 3 {
				t.Errorf("%d entries", len(es))
			}
		})
	}
}

// Any window of the log, read at any offset, is the same bytes as the
// whole log encoded at once.
func TestDiscoveryLogWindows(t *testing.T) {
	cfg := threeSubsystems()
	cfg.Referrals = []Referral{{Addr: "192.0.2.7:8009"}}
	tg := newTarget(t, cfg)
	defer tg.Close()
	for range 2 {
		if _, err := tg.addPort(mustListen(t), PortConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	q := &conn{t: tg, local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
	es, gen := tg.discoveryEntries(q, testHostNQN)
	whole := nvme.AppendDiscoveryLog(nil, gen, es)
	if len(es) != 7 || len(whole) != 8*1024 {
		t.Fatalf("%d entries, %d bytes", len(es), len(whole))
	}
	tests := []struct {
		off uint64
		n   int
	}{
		{0, 16}, {0, 1024}, {0, 4096}, {0, len(whole)}, {0, 2 * len(whole)},
		{8, 8}, {1020, 8}, {1024, 1024}, {1028, 2040}, {2044, 4096}, {4096, 1024},
		{uint64(len(whole)) - 4, 4}, {uint64(len(whole)) - 4, 4096}, {uint64(len(whole)), 4},
	}
	for _, tt := range tests {
		got, ok := tg.discoveryLog(q, testHostNQN, tt.off, tt.n)
		if !ok {
			t.Errorf("[%d, +%d): refused", tt.off, tt.n)
			continue
		}
		want := clip(slices.Clone(whole[tt.off:min(tt.off+uint64(tt.n), uint64(len(whole)))]), tt.n)
		if !bytes.Equal(got, want) {
			t.Errorf("[%d, +%d): bytes differ from the whole log's", tt.off, tt.n)
		}
	}
	if _, ok := tg.discoveryLog(q, testHostNQN, uint64(len(whole))+4, 4); ok {
		t.Error("offset beyond the log accepted")
	}
}

// BenchmarkDiscoveryLog reads the discovery log of 64 subsystems on 4
// ports (256 entries, 257 KiB) over loopback: the header, then the whole
// log, as nvme-cli does.
func BenchmarkDiscoveryLog(b *testing.B) {
	var cfg Config
	for i := range 64 {
		cfg.Subsystems = append(cfg.Subsystems, SubsystemConfig{NQN: "nqn.2026-01.io.example:sub" + strconv.Itoa(i)})
	}
	tg := newTarget(b, cfg)
	defer tg.Close()
	var addr string
	for range 4 {
		a, err := tg.Start(context.Background(), "")
		if err != nil {
			b.Fatal(err)
		}
		addr = a
	}
	q, _ := admin(b, addr, nvme.DiscoveryNQN, 0)
	size := nvme.DiscoveryLogHeaderSize + 256*nvme.DiscoveryEntrySize
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := getLog(q, nvme.LogDiscovery, nvme.DiscoveryLogHeaderSize, 0, false); err != nil {
			b.Fatal(err)
		}
		if _, err := getLog(q, nvme.LogDiscovery, size, 0, false); err != nil {
			b.Fatal(err)
		}
	}
}
