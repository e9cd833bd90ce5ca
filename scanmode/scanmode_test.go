package scanmode

import "testing"

// Parse reads the names String writes, and nothing else.
func TestParseString(t *testing.T) {
	for name, mode := range map[string]Mode{"ordered": Ordered, "async": Async, "sync": Sync} {
		if m, err := Parse(name); err != nil || m != mode || m.String() != name {
			t.Errorf("Parse(%q) = %v, %v; want %d", name, m, err, int(mode))
		}
	}
	for _, s := range []string{"Ordered", "", " sync", "Mode(3)"} {
		if m, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", s, m)
		}
	}
	for mode, want := range map[Mode]string{3: "Mode(3)", -1: "Mode(-1)"} {
		if s := mode.String(); s != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(mode), s, want)
		}
	}
}
