package multipath

import (
	"maps"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzNamesFile: a names file decodes, or is refused; what decodes is
// saved and read back to the same state, and a new identity takes the
// smallest instance not recorded.
func FuzzNamesFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"subsystems":[{"nqn":"nqn.a","namespaces":[{"id":"nguid.01","instance":1},{"id":"nsid.4","instance":3}]}]}`))
	f.Add([]byte(`{"version":1,"subsystems":[]}`))
	f.Add([]byte(`{"version":1,"subsystems":[{"nqn":"a","namespaces":[{"id":"x","instance":65536}]}]}`))
	f.Add([]byte(`{"version":2}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		n := &Names{path: filepath.Join(dir, "names.json"), subs: map[string]*subsystemNames{}}
		if n.decode(b) != nil {
			return
		}
		if err := n.Save(); err != nil {
			t.Fatal(err)
		}
		m, err := OpenNames(n.path)
		if err != nil {
			t.Fatalf("a saved state does not read back: %v", err)
		}
		for nqn, sn := range n.subs {
			if !maps.Equal(m.subs[nqn].byID, sn.byID) {
				t.Fatalf("%s: read back %v, saved %v", nqn, m.subs[nqn].byID, sn.byID)
			}
			taken := map[int]bool{}
			for _, i := range sn.byID {
				taken[i] = true
			}
			want := smallestFree(func(i int) bool { return taken[i] })
			if want > MaxInstance {
				continue
			}
			got, err := m.instance(nqn, strings.Repeat("z", maxIdentityLen+1), func(int) bool { return false }) // longer than any read
			if err != nil || got != want {
				t.Fatalf("%s: new identity got %d %v, want %d", nqn, got, err, want)
			}
		}
		if len(m.subs) != len(n.subs) {
			t.Fatalf("%d subsystems read back, %d saved", len(m.subs), len(n.subs))
		}
	})
}
