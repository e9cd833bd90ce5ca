package scanmode

import "testing"

func TestParseString(t *testing.T) {
	tests := []struct {
		s    string
		mode Mode
		ok   bool
	}{
		{"ordered", Ordered, true},
		{"async", Async, true},
		{"sync", Sync, true},
		{"Ordered", 0, false},
		{"", 0, false},
		{"Mode(3)", 0, false},
	}
	for _, tt := range tests {
		m, err := Parse(tt.s)
		if (err == nil) != tt.ok || tt.ok && (m != tt.mode || m.String() != tt.s) {
			t.Errorf("Parse(%q) = %v, %v", tt.s, m, err)
		}
	}
	if s := Mode(3).String(); s != "Mode(3)" {
		t.Errorf("Mode(3).String() = %q", s)
	}
	if s := Mode(-1).String(); s != "Mode(-1)" {
		t.Errorf("Mode(-1).String() = %q", s)
	}
}
