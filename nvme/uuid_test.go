package nvme

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestAppendUUID(t *testing.T) {
	for _, u := range [][16]byte{
		{},
		{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		want := fmt.Sprintf("x:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
		if got := string(AppendUUID([]byte("x:"), u)); got != want {
			t.Errorf("AppendUUID(%x) = %q, want %q", u, got, want)
		}
		if got, err := ParseUUID(want[2:]); got != u || err != nil {
			t.Errorf("ParseUUID(%q) = %x, %v; want %x", want[2:], got, err, u)
		}
	}
}

func TestParseUUID(t *testing.T) {
	want := [16]byte{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00}
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"Lower", "123e4567-e89b-12d3-a456-426614174000", true},
		{"Upper", "123E4567-E89B-12D3-A456-426614174000", true},
		{"Empty", "", false},
		{"NoHyphens", "123e4567e89b12d3a456426614174000", false},
		{"Braces", "{123e4567-e89b-12d3-a456-426614174000}", false},
		{"URN", "urn:uuid:123e4567-e89b-12d3-a456-426614174000", false},
		{"HyphenMoved", "123e4567-e89b1-2d3-a456-426614174000", false},
		{"NotHex", "123e4567-e89b-12d3-a456-42661417400g", false},
		{"Short", "123e4567-e89b-12d3-a456-42661417400", false},
		{"TrailingNewline", "123e4567-e89b-12d3-a456-426614174000\n", false},
		{"SignInHex", "+23e4567-e89b-12d3-a456-426614174000", false},
	}
	for _, tt := range tests {
		got, err := ParseUUID(tt.in)
		if tt.ok && (err != nil || got != want) {
			t.Errorf("%s: ParseUUID(%q) = %x, %v; want %x", tt.name, tt.in, got, err, want)
		}
		if !tt.ok && !errors.Is(err, ErrInvalidUUID) {
			t.Errorf("%s: ParseUUID(%q) = %x, %v; want ErrInvalidUUID", tt.name, tt.in, got, err)
		}
	}
}

// FuzzParseUUID: ParseUUID accepts exactly what AppendUUID writes, in
// either case, and nothing else.
func FuzzParseUUID(f *testing.F) {
	for _, s := range []string{"123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000", "", "{123e4567-e89b-12d3-a456-426614174000}", "123e4567-e89b-12d3-a456-42661417400\x00", "123e4567+e89b-12d3-a456-426614174000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUUID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidUUID) {
				t.Fatalf("ParseUUID(%q): %v", s, err)
			}
			return
		}
		if got := string(AppendUUID(nil, u)); !strings.EqualFold(got, s) {
			t.Fatalf("ParseUUID(%q) = %s", s, got)
		}
	})
}
