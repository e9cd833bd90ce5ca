package scan_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scanmode"
)

// hostile is a controller that reports nonsense: the embedded target on
// loopback, its Identify answers rewritten. Fields left zero keep the
// target's answers.
type hostile struct {
	nn   *uint32                                   // Identify Controller NN
	list func(after uint32) []uint32               // the active NSID list after an NSID
	ns   func(nsid uint32) *nvme.IdentifyNamespace // Identify Namespace; the descriptor list is then empty

	stopAfter int64              // if positive, cancel is called on Identify command number stopAfter
	cancel    context.CancelFunc // set before the target starts

	commands atomic.Int64 // Identify commands received
	lists    atomic.Int64 // of them, active NSID list pages
}

func (h *hostile) identify(cmd *nvme.Command, data []byte, st nvme.Status) ([]byte, nvme.Status) {
	if n := h.commands.Add(1); n == h.stopAfter {
		h.cancel()
	}
	switch cmd.IdentifyCNS() {
	case nvme.CNSController:
		if h.nn != nil && st == 0 {
			binary.LittleEndian.PutUint32(data[516:], *h.nn)
		}
	case nvme.CNSActiveNamespaces:
		h.lists.Add(1)
		if h.list != nil {
			return nvme.AppendNSIDList(make([]byte, 0, nvme.IdentifySize), h.list(cmd.NSID)), 0
		}
	case nvme.CNSNamespace:
		if h.ns != nil {
			if id := h.ns(cmd.NSID); id != nil {
				b, _ := id.AppendBinary(nil)
				return b, 0
			}
			return make([]byte, nvme.IdentifySize), 0 // inactive
		}
	case nvme.CNSNSDescriptors:
		if h.ns != nil {
			return make([]byte, nvme.IdentifySize), 0
		}
	}
	return data, st
}

// start serves h's controller and connects to it.
func (h *hostile) start(t *testing.T, cfg target.Config) *scan.Scanner {
	cfg.Faults.Identify = h.identify
	_, c := setup(t, cfg)
	return &scan.Scanner{Ctrl: c}
}

// usable returns valid Identify Namespace data for nsid: 1 MiB of 512-byte
// blocks, an NGUID derived from the NSID.
func usable(nsid uint32) *nvme.IdentifyNamespace {
	id := &nvme.IdentifyNamespace{NSZE: 2048, NCAP: 2048, NUSE: 1024}
	id.LBAF[0].DataShift = 9
	id.NGUID[0] = 0xcc
	binary.BigEndian.PutUint32(id.NGUID[12:], nsid)
	return id
}

// fixed returns a list function that answers ids, whatever the start.
func fixed(ids ...uint32) func(uint32) []uint32 {
	return func(after uint32) []uint32 {
		var out []uint32
		for _, id := range ids {
			if id > after || id == 0 {
				out = append(out, id)
			}
		}
		return out
	}
}

// endless answers full pages of increasing NSIDs forever.
func endless(after uint32) []uint32 {
	ids := make([]uint32, 0, nvme.NSIDsPerList)
	for id := uint64(after) + 1; id <= math.MaxUint32 && len(ids) < nvme.NSIDsPerList; id++ {
		ids = append(ids, uint32(id))
	}
	return ids
}

func registered(s *scan.Scanner) []uint32 {
	var ids []uint32
	for _, ns := range s.Namespaces() {
		ids = append(ids, ns.NSID)
	}
	return ids
}

// field returns the field a namespace's failure names, or "" if it is not
// an *nvme.FieldError.
func field(err error) string {
	var fe *nvme.FieldError
	if !errors.As(err, &fe) {
		return ""
	}
	return fe.Field
}

// Lists that never end or name NSIDs no namespace can have: the walk
// stops at NN, bad NSIDs are failures of their own, the rest registers,
// and the commands sent stay within the bound NN sets.
func TestHostileNSIDList(t *testing.T) {
	tests := []struct {
		name       string
		h          *hostile
		registered []uint32
		failed     map[uint32]string // NSID → field
		lists      int64             // list pages read
	}{
		{
			name:       "endless full pages, NN 2500",
			h:          &hostile{nn: u32(2500), list: endless, ns: usable},
			registered: seq(1, 2500),
			failed:     map[uint32]string{2501: "NSID"},
			lists:      3,
		},
		{
			name:       "full pages ending exactly at NN",
			h:          &hostile{nn: u32(2048), list: endless, ns: usable},
			registered: seq(1, 2048),
			lists:      2,
		},
		{
			name:       "broadcast NSID listed",
			h:          &hostile{list: fixed(1, 2, nvme.NSIDAll), ns: usable},
			registered: []uint32{1, 2},
			failed:     map[uint32]string{nvme.NSIDAll: "NSID"},
			lists:      1,
		},
		{
			name:       "NN 0xFFFFFFFF: NSIDs up to FFFFFFFEh are valid",
			h:          &hostile{nn: u32(math.MaxUint32), list: fixed(1, 2, scan.MaxNSID, nvme.NSIDAll), ns: usable},
			registered: []uint32{1, 2, scan.MaxNSID},
			failed:     map[uint32]string{nvme.NSIDAll: "NSID"},
			lists:      1,
		},
		{
			name:       "NSIDs above NN",
			h:          &hostile{nn: u32(8), list: fixed(1, 5, 9, 10, 11), ns: usable},
			registered: []uint32{1, 5},
			failed:     map[uint32]string{9: "NSID"},
			lists:      1,
		},
		{
			name:       "NN 0",
			h:          &hostile{nn: u32(0), list: fixed(1, 2), ns: usable},
			registered: nil,
			failed:     map[uint32]string{1: "NSID"},
			lists:      1,
		},
		{
			name:       "zero ends the list",
			h:          &hostile{list: fixed(1, 2, 0, 3, 4), ns: usable},
			registered: []uint32{1, 2},
			lists:      1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.h.start(t, target.Config{})
			res, err := s.Scan(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := registered(s); !slices.Equal(got, tt.registered) {
				t.Errorf("registered %d namespaces %v, want %d", len(got), trim(got), len(tt.registered))
			}
			failed := map[uint32]string{}
			for _, f := range res.Failed {
				failed[f.NSID] = field(f)
			}
			if len(failed) != len(tt.failed) {
				t.Errorf("failed %v, want %v", res.Failed, tt.failed)
			}
			for nsid, f := range tt.failed {
				if failed[nsid] != f {
					t.Errorf("NSID %#x: failure names field %q, want %q (all: %v)", nsid, failed[nsid], f, res.Failed)
				}
			}
			if n := tt.h.lists.Load(); n != tt.lists {
				t.Errorf("read %d list pages, want %d", n, tt.lists)
			}
			// Bounded work: the list pages, then two identify commands
			// for each NSID listed.
			if max := tt.lists + scan.CommandsPerNamespace*int64(res.Listed); res.Commands != max {
				t.Errorf("sent %d commands, want %d", res.Commands, max)
			}
			if res.Listed != len(tt.registered) {
				t.Errorf("listed %d, want %d", res.Listed, len(tt.registered))
			}
		})
	}
}

// Without a bound from NN, the caller's deadline ends the scan: an endless
// list or a probe of 2^32 NSIDs stops when ctx is done, having sent no
// more than the queue holds beyond that point.
func TestHostileScanDeadline(t *testing.T) {
	tests := []struct {
		name string
		h    *hostile
		cfg  target.Config
	}{
		{"endless list, NN 0xFFFFFFFF", &hostile{nn: u32(math.MaxUint32), list: endless, ns: usable}, target.Config{}},
		{"probe, NN 0xFFFFFFFF", &hostile{nn: u32(math.MaxUint32)}, target.Config{Faults: target.Faults{NoNSIDList: true}}},
	}
	const stopAfter = 3000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tt.h.stopAfter, tt.h.cancel = stopAfter, cancel
			s := tt.h.start(t, tt.cfg)
			res, err := s.Scan(ctx)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("scan = %v, want it cancelled", err)
			}
			// Commands in flight when ctx ended: at most the queue's
			// worth, plus one namespace's pair being sent.
			bound := int64(stopAfter + s.Ctrl.QueueDepth() + scan.CommandsPerNamespace)
			if res.Commands > bound || tt.h.commands.Load() > bound+1 {
				t.Fatalf("sent %d commands (target saw %d), want at most %d", res.Commands, tt.h.commands.Load(), bound)
			}
		})
	}
}

// Scanner.Timeout bounds a scan of an endless list as a whole.
func TestHostileScanTimeout(t *testing.T) {
	h := &hostile{nn: u32(math.MaxUint32), list: endless, ns: usable}
	s := h.start(t, target.Config{})
	s.Timeout = 200 * time.Millisecond
	res, err := s.Scan(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not finished within 200ms") {
		t.Fatalf("scan = %v, want it stopped by its timeout", err)
	}
	if res.Listed == 0 || res.Elapsed < s.Timeout {
		t.Fatalf("listed %d in %v", res.Listed, res.Elapsed)
	}
}

// Identify Namespace data that makes no sense fails its own namespace,
// naming the field; the others register with dense names.
func TestHostileNamespaceData(t *testing.T) {
	bad := []struct {
		field  string
		change func(*nvme.IdentifyNamespace)
	}{
		{"FLBAS", func(id *nvme.IdentifyNamespace) { id.FLBAS = 3 }},
		{"FLBAS", func(id *nvme.IdentifyNamespace) { id.NLBAF = 40; id.FLBAS = 0x60 }},
		{"NLBAF", func(id *nvme.IdentifyNamespace) { id.NLBAF = 200 }},
		{"LBAF0.LBADS", func(id *nvme.IdentifyNamespace) { id.LBAF[0].DataShift = 0 }},
		{"LBAF0.LBADS", func(id *nvme.IdentifyNamespace) { id.LBAF[0].DataShift = 63 }},
		{"LBAF0.LBADS", func(id *nvme.IdentifyNamespace) { id.LBAF[0].DataShift = 8 }},
		{"NSZE", func(id *nvme.IdentifyNamespace) { id.NSZE, id.NCAP = math.MaxUint64, 1 }},
		{"NCAP", func(id *nvme.IdentifyNamespace) { id.NSZE = 0 }},
		{"NCAP", func(id *nvme.IdentifyNamespace) { id.NCAP = id.NSZE + 1 }},
		{"NUSE", func(id *nvme.IdentifyNamespace) { id.NUSE = id.NCAP + 1 }},
	}
	// NSIDs 1, 3, 5, … are usable; 2, 4, 6, … get the bad data in turn.
	n := uint32(2*len(bad) + 1)
	ns := func(nsid uint32) *nvme.IdentifyNamespace {
		id := usable(nsid)
		if nsid%2 == 0 {
			bad[nsid/2-1].change(id)
		}
		return id
	}
	for _, mode := range []scanmode.Mode{scanmode.Ordered, scanmode.Async, scanmode.Sync} {
		t.Run(mode.String(), func(t *testing.T) {
			h := &hostile{list: fixed(seq(1, n)...), ns: ns}
			s := h.start(t, target.Config{})
			s.Mode = mode
			res, err := s.Scan(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Failed) != len(bad) {
				t.Fatalf("failed %v, want %d namespaces", res.Failed, len(bad))
			}
			for i, f := range res.Failed {
				if f.NSID != uint32(2*i+2) || field(f) != bad[i].field {
					t.Errorf("failure %d: %v, want NSID %d field %s", i, f, 2*i+2, bad[i].field)
				}
			}
			for _, ns := range s.Namespaces() {
				if ns.NSID%2 == 0 || ns.BlockSize != 512 || ns.Size != 2048 {
					t.Errorf("registered %+v", ns)
				}
			}
			if len(s.Namespaces()) != len(bad)+1 {
				t.Errorf("registered %d, want %d", len(s.Namespaces()), len(bad)+1)
			}
		})
	}
}

// A registered namespace whose data turns into nonsense is removed on the
// next scan and its failure reported; a probing scan checks data too.
func TestHostileRevalidate(t *testing.T) {
	var broken atomic.Bool
	h := &hostile{list: fixed(1, 2, 3), ns: func(nsid uint32) *nvme.IdentifyNamespace {
		id := usable(nsid)
		if nsid == 2 && broken.Load() {
			id.FLBAS = 9
		}
		return id
	}}
	s := h.start(t, target.Config{})
	if _, err := s.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	broken.Store(true)
	res, err := s.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || res.Failed[0].NSID != 2 || field(res.Failed[0]) != "FLBAS" {
		t.Fatalf("failed %v, want NSID 2's FLBAS", res.Failed)
	}
	if len(res.Removed) != 1 || res.Removed[0].NSID != 2 || !slices.Equal(registered(s), []uint32{1, 3}) {
		t.Fatalf("removed %v, registered %v; want NSID 2 removed", res.Removed, registered(s))
	}

	probe := &hostile{nn: u32(4), ns: func(nsid uint32) *nvme.IdentifyNamespace {
		id := usable(nsid)
		if nsid == 3 {
			id.LBAF[0].DataShift = 40
		}
		return id
	}}
	s = probe.start(t, target.Config{Faults: target.Faults{NoNSIDList: true}})
	res, err = s.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || res.Failed[0].NSID != 3 || !slices.Equal(registered(s), []uint32{1, 2, 4}) {
		t.Fatalf("probe: failed %v, registered %v", res.Failed, registered(s))
	}
}

func u32(v uint32) *uint32 { return &v }

func seq(from, to uint32) []uint32 {
	var ids []uint32
	for id := from; id <= to; id++ {
		ids = append(ids, id)
	}
	return ids
}

func trim(ids []uint32) []uint32 {
	if len(ids) > 8 {
		return append(slices.Clone(ids[:4]), ids[len(ids)-4:]...)
	}
	return ids
}
