package multipath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/complchain/complchain/nvme"
)

func TestIdentity(t *testing.T) {
	tests := []struct {
		ids  nvme.NSIdentifiers
		want string
	}{
		{nvme.NSIdentifiers{NGUID: [16]byte{0xab, 15: 1}, EUI64: [8]byte{1}, UUID: [16]byte{2}}, "nguid.ab000000000000000000000000000001"},
		{nvme.NSIdentifiers{EUI64: [8]byte{1, 7: 0xff}, UUID: [16]byte{2}}, "eui.01000000000000ff"},
		{nvme.NSIdentifiers{UUID: [16]byte{2}}, "uuid.02000000000000000000000000000000"},
		{nvme.NSIdentifiers{}, "nsid.7"},
	}
	for _, tt := range tests {
		if got := Identity(7, tt.ids); got != tt.want {
			t.Errorf("Identity(7, %+v) = %q, want %q", tt.ids, got, tt.want)
		}
	}
}

func TestNamesSaveOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "names.json")
	n, err := OpenNames(path)
	if err != nil {
		t.Fatalf("missing file: %v", err)
	}
	never := func(int) bool { return false }
	for i, id := range []string{"nguid.01", "eui.02", "nsid.9"} {
		if got, err := n.instance("nqn.a", id, never); err != nil || got != i+1 {
			t.Fatalf("instance(%s) = %d, %v; want %d", id, got, err, i+1)
		}
	}
	if got, _ := n.instance("nqn.b", "nsid.1", never); got != 1 {
		t.Fatalf("other subsystem: %d, want 1", got)
	}
	if !n.Forget("nqn.a", "eui.02") || n.Forget("nqn.a", "eui.02") {
		t.Fatal("Forget")
	}
	if err := n.Save(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("%d files after Save, want the names file alone", len(ents))
	}
	m, err := OpenNames(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		nqn, id string
		want    int
	}{{"nqn.a", "nguid.01", 1}, {"nqn.a", "nsid.9", 3}, {"nqn.b", "nsid.1", 1}, {"nqn.a", "eui.02", 0}} {
		if got, ok := m.Lookup(tt.nqn, tt.id); got != tt.want || ok != (tt.want != 0) {
			t.Errorf("Lookup(%s, %s) = %d %v, want %d", tt.nqn, tt.id, got, ok, tt.want)
		}
	}
	// The number Forget freed is the smallest free: the next new one takes it,
	// unless a head still holds it.
	if got, _ := m.instance("nqn.a", "uuid.03", func(i int) bool { return i == 2 }); got != 4 {
		t.Fatalf("instance held by a head handed out: %d, want 4", got)
	}
	if got, _ := m.instance("nqn.a", "uuid.04", never); got != 2 {
		t.Fatalf("freed instance: %d, want 2", got)
	}
	b1, _ := os.ReadFile(path)
	m.Forget("nqn.a", "uuid.04")
	m.Forget("nqn.a", "uuid.03")
	if err := m.Save(); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(path); string(b1) != string(b2) {
		t.Fatalf("equal states wrote different files:\n%s\n%s", b1, b2)
	}
}

// A corrupt names file is an error naming the file, and is left as it was.
func TestNamesCorrupt(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		name, content string
	}{
		{"not JSON", "{"},
		{"empty", ""},
		{"no version", `{"subsystems":[]}`},
		{"version 2", `{"version":2,"subsystems":[]}`},
		{"unknown field", `{"version":1,"subsystems":[],"extra":1}`},
		{"trailing data", `{"version":1,"subsystems":[]} {}`},
		{"empty NQN", `{"version":1,"subsystems":[{"nqn":"","namespaces":[]}]}`},
		{"long NQN", `{"version":1,"subsystems":[{"nqn":"` + long + `","namespaces":[]}]}`},
		{"NQN twice", `{"version":1,"subsystems":[{"nqn":"a","namespaces":[]},{"nqn":"a","namespaces":[]}]}`},
		{"empty identity", `{"version":1,"subsystems":[{"nqn":"a","namespaces":[{"id":"","instance":1}]}]}`},
		{"long identity", `{"version":1,"subsystems":[{"nqn":"a","namespaces":[{"id":"` + long + `","instance":1}]}]}`},
		{"instance 0", `{"version":1,"subsystems":[{"nqn":"a","namespaces":[{"id":"x","instance":0}]}]}`},
		{"instance too large", `{"version":1,"subsystems":[{"nqn":"a","namespaces":[{"id":"x","instance":65537}]}]}`},
		{"instance as string", `{"version":1,"subsystems":[{"nqn":"a","namespaces":[{"id":"x","instance":"1"}]}]}`},
		{"identity twice", `{"version":1,"subsystems":[{"nqn":"a","namespaces":[{"id":"x","instance":1},{"id":"x","instance":2}]}]}`},
		{"instance twice", `{"version":1,"subsystems":[{"nqn":"a","namespaces":[{"id":"x","instance":1},{"id":"y","instance":1}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "names.json")
			os.WriteFile(path, []byte(tt.content), 0o644)
			_, err := OpenNames(path)
			var fe *NamesFileError
			if !errors.As(err, &fe) || fe.Path != path {
				t.Fatalf("OpenNames: %v, want a *NamesFileError for %s", err, path)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Fatal("the corrupt file was changed")
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "names.json")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(MaxNamesFileSize + 1) // sparse: nothing written
		f.Close()
		if _, err := OpenNames(path); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("OpenNames: %v", err)
		}
	})
	t.Run("a directory", func(t *testing.T) {
		if _, err := OpenNames(t.TempDir()); err == nil {
			t.Fatal("OpenNames read a directory")
		}
	})
}

func TestNamesExhausted(t *testing.T) {
	n, _ := OpenNames(filepath.Join(t.TempDir(), "n.json"))
	never := func(int) bool { return false }
	if _, err := n.instance("a", "nsid.5", never); err != nil {
		t.Fatal(err)
	}
	sn := n.subs["a"]
	for range MaxInstance - 1 { // every other instance taken, as by as many identities
		sn.taken.Get(1)
	}
	if _, err := n.instance("a", "x", never); !errors.Is(err, ErrInstancesExhausted) {
		t.Fatalf("%v, want ErrInstancesExhausted", err)
	}
	if i, ok := n.Lookup("a", "nsid.5"); !ok || i != 1 {
		t.Fatalf("Lookup = %d %v", i, ok)
	}
	n.Forget("a", "nsid.5")
	if i, err := n.instance("a", "x", never); err != nil || i != 1 {
		t.Fatalf("after Forget: %d %v", i, err)
	}
}
