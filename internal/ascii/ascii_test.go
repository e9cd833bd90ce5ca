package ascii

import "testing"

func TestPadTrim(t *testing.T) {
	tests := []struct {
		s     string
		width int
		field string // after Pad
		trim  string // Trim of field
	}{
		{"", 4, "    ", ""},
		{"ab", 4, "ab  ", "ab"},
		{"abcd", 4, "abcd", "abcd"},
		{"abcdef", 4, "abcd", "abcd"},
		{" a b", 6, " a b  ", " a b"},
		{"ab\x00", 5, "ab\x00  ", "ab"},
	}
	for _, tt := range tests {
		field := make([]byte, tt.width)
		Pad(field, tt.s)
		if string(field) != tt.field {
			t.Errorf("Pad(%d bytes, %q) = %q, want %q", tt.width, tt.s, field, tt.field)
		}
		if got := Trim(field); got != tt.trim {
			t.Errorf("Trim(%q) = %q, want %q", field, got, tt.trim)
		}
	}
}

func TestTrimNULPadding(t *testing.T) {
	if got := Trim([]byte("SN1 \x00\x00 \x00")); got != "SN1" {
		t.Fatalf("Trim = %q, want %q", got, "SN1")
	}
}
