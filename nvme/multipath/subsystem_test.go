package multipath

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ids returns the identifiers of test namespace k: an NGUID of its own.
func ids(k int) nvme.NSIdentifiers {
	return nvme.NSIdentifiers{NGUID: [16]byte{0xa0, 14: byte(k >> 8), 15: byte(k)}}
}

func path(ctrl int, nsid uint32, k int) Path {
	return Path{Controller: ctrl, CNTLID: uint16(ctrl + 1), NSID: nsid, IDs: ids(k), Shared: true}
}

func newSubsystem(t *testing.T, naming Naming, hooks Hooks) *Subsystem {
	t.Helper()
	names, err := OpenNames(filepath.Join(t.TempDir(), "names.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{NQN: "nqn.2026-01.io.example:s", Instance: 2, Naming: naming, Names: names, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Two controllers' paths to one namespace make one head; what does not
// belong to it is refused with the error that says why.
func TestAttachJoins(t *testing.T) {
	ctx := context.Background()
	unshared := path(1, 1, 1)
	unshared.Shared = false
	tests := []struct {
		name  string
		paths []Path
		err   func(error) bool // of the last Attach; nil: no error
		heads []string         // head name: path names
	}{
		{"two paths", []Path{path(0, 1, 1), path(1, 1, 1)}, nil, []string{"nvme2n1:nvme2c0n1,nvme2c1n1"}},
		{"paths by controller", []Path{path(3, 1, 1), path(1, 1, 1), path(2, 1, 1)}, nil, []string{"nvme2n1:nvme2c1n1,nvme2c2n1,nvme2c3n1"}},
		{"same controller again", []Path{path(0, 1, 1), path(0, 1, 1)}, nil, []string{"nvme2n1:nvme2c0n1"}},
		{"identifiers differ", []Path{path(0, 1, 1), path(1, 1, 2)},
			func(err error) bool {
				var e *IDMismatchError
				return errors.As(err, &e) && e.NSID == 1 && e.Controller == 1
			},
			[]string{"nvme2n1:nvme2c0n1"}},
		{"not shared", []Path{path(0, 1, 1), unshared},
			func(err error) bool { return errors.Is(err, ErrNotShared) }, []string{"nvme2n1:nvme2c0n1"}},
		{"identifiers of another NSID", []Path{path(0, 1, 1), path(0, 2, 1)},
			func(err error) bool {
				var e *DuplicateIDError
				return errors.As(err, &e) && e.NSID == 2 && e.Other == 1
			},
			[]string{"nvme2n1:nvme2c0n1"}},
		{"two namespaces", []Path{path(0, 5, 5), path(1, 3, 3), path(0, 3, 3)}, nil,
			[]string{"nvme2n1:nvme2c0n1", "nvme2n2:nvme2c0n2,nvme2c1n2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSubsystem(t, Index, Hooks{})
			var err error
			for _, p := range tt.paths {
				_, err = s.Attach(ctx, p)
			}
			if (tt.err == nil) != (err == nil) || (tt.err != nil && !tt.err(err)) {
				t.Fatalf("last Attach: %v", err)
			}
			if got := describe(s.Heads()); !reflect.DeepEqual(got, tt.heads) {
				t.Fatalf("heads %q, want %q", got, tt.heads)
			}
		})
	}
}

// describe lists heads as "head:path,path".
func describe(hs []Head) []string {
	var out []string
	for _, h := range hs {
		d := h.Name() + ":"
		for i, p := range h.Paths {
			if i > 0 {
				d += ","
			}
			d += h.PathName(p.Controller)
		}
		out = append(out, d)
	}
	return out
}

func TestDetach(t *testing.T) {
	ctx := context.Background()
	var deleted []string
	s := newSubsystem(t, NSID, Hooks{DelDisk: func(_ context.Context, name string) { deleted = append(deleted, name) }})
	for _, p := range []Path{path(0, 4, 4), path(1, 4, 4), path(1, 9, 9)} {
		if _, err := s.Attach(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if removed, err := s.Detach(ctx, 0, 4); removed || err != nil {
		t.Fatalf("detach one of two paths: %v %v", removed, err)
	}
	if _, err := s.Detach(ctx, 0, 4); !errors.Is(err, ErrNoPath) {
		t.Fatalf("detach again: %v, want ErrNoPath", err)
	}
	hs, err := s.DetachController(ctx, 1)
	if err != nil || len(hs) != 2 || hs[0].NSID != 4 || hs[1].NSID != 9 {
		t.Fatalf("DetachController: %+v %v", hs, err)
	}
	if len(s.Heads()) != 0 || !reflect.DeepEqual(deleted, []string{"nvme2n4", "nvme2n9"}) {
		t.Fatalf("heads %v, deleted %q", s.Heads(), deleted)
	}
}

// A disk that cannot be added refuses the head and frees its number.
func TestAddDiskFails(t *testing.T) {
	ctx := context.Background()
	fail := errors.New("no disk")
	s := newSubsystem(t, Index, Hooks{AddDisk: func(_ context.Context, name string) error {
		if name == "nvme2n1" {
			return fail
		}
		return nil
	}})
	if _, err := s.Attach(ctx, path(0, 1, 1)); !errors.Is(err, fail) {
		t.Fatalf("%v", err)
	}
	if _, ok := s.Head(1); ok {
		t.Fatal("head kept")
	}
	// n1 is free again, and fails again: the number was given back.
	if _, err := s.Attach(ctx, path(0, 2, 2)); !errors.Is(err, fail) {
		t.Fatalf("%v", err)
	}
}

func TestSetANA(t *testing.T) {
	ctx := context.Background()
	s := newSubsystem(t, Index, Hooks{})
	for _, p := range []Path{path(0, 1, 1), path(1, 1, 1), path(0, 2, 2)} {
		p.ANAGRPID = p.NSID
		s.Attach(ctx, p)
	}
	log := nvme.ANALog{Groups: []nvme.ANAGroup{{ANAGRPID: 1, State: nvme.ANAInaccessible}}}
	if n := s.SetANA(0, &log); n != 1 {
		t.Fatalf("%d paths changed, want 1", n)
	}
	h, _ := s.Head(1)
	if h.Paths[0].ANAState != nvme.ANAInaccessible || h.Paths[1].ANAState != 0 {
		t.Fatalf("%+v", h.Paths)
	}
	if h, _ := s.Head(2); h.Paths[0].ANAState != 0 {
		t.Fatal("a group the log does not list changed")
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := New(Config{Naming: Persistent}); err == nil {
		t.Error("persistent without Names")
	}
	if _, err := New(Config{Naming: 7}); err == nil {
		t.Error("unknown naming")
	}
	for _, s := range []string{"index", "nsid", "persistent"} {
		if n, err := ParseNaming(s); err != nil || n.String() != s {
			t.Errorf("ParseNaming(%q) = %v %v", s, n, err)
		}
	}
	if _, err := ParseNaming("uuid"); err == nil {
		t.Error("ParseNaming(uuid)")
	}
}

// A context that ends before the event's turn gives up the turn: later
// events are not held.
func TestEventContext(t *testing.T) {
	s := newSubsystem(t, Index, Hooks{})
	first := s.Begin()
	second := s.Begin()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := second.Attach(ctx, path(0, 1, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("%v", err)
	}
	first.Cancel()
	if _, err := s.Attach(context.Background(), path(0, 1, 1)); err != nil {
		t.Fatal(err)
	}
}

func TestEventMisuse(t *testing.T) {
	s := newSubsystem(t, NSID, Hooks{})
	ctx := context.Background()
	for _, nsid := range []uint32{0, nvme.NSIDAll} {
		if _, err := s.Attach(ctx, path(0, nsid, 1)); err == nil {
			t.Errorf("NSID %#x attached", nsid)
		}
	}
	e := s.Begin()
	e.Attach(ctx, path(0, 1, 1))
	defer func() {
		if recover() == nil {
			t.Fatal("a second call on one event did not panic")
		}
		if len(s.Heads()) != 1 {
			t.Fatal("the second call changed heads")
		}
	}()
	e.Detach(ctx, 0, 1)
}
