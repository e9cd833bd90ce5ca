package udev

import "testing"

func TestReplaceChars(t *testing.T) {
	tests := []struct{ in, allow, want string }{
		{"Az09#+-.:=@_", "", "Az09#+-.:=@_"},
		{"a b\tc/d$e%f?g,h", "/ $%?,", "a b c/d$e%f?g,h"},
		{"a b\tc/d$e%f?g,h", "/ ", "a b c/d_e_f_g_h"},
		{"a b\tc/d", "/", "a_b_c/d"},
		{"a b\tc/d", "", "a_b_c_d"},
		{`\x41\q\`, "", `\x41_q_`},
		{"caf\xc3\xa9 \xc3", "", "caf\xc3\xa9__"},
		{"\xc0\xaf", "", "__"},                     // overlong
		{"\xed\xa0\x80", "", "___"},                // surrogate
		{"\xef\xb7\x90\xef\xbf\xbf", "", "______"}, // noncharacters
		{"\xf0\x9f\x92\xbe\xef\xbf\xbd", "", "\xf0\x9f\x92\xbe\xef\xbf\xbd"},
		{"\x7f\x01", " ", "__"},
	}
	for _, tt := range tests {
		if got := ReplaceChars(tt.in, tt.allow); got != tt.want {
			t.Errorf("ReplaceChars(%q, %q) = %q, want %q", tt.in, tt.allow, got, tt.want)
		}
	}
}

func TestReplaceWhitespace(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  a  b \t c\n", "a_b_c"},
		{"\va", "_a"}, // leading \v and \f are not skipped, only collapsed
		{"a", "a"},
		{" \t ", ""},
		{"", ""},
		{"a\fb\r", "a_b"},
		{"uuid.123e4567-e89b-12d3-a456-426614174000", "uuid.123e4567-e89b-12d3-a456-426614174000"},
		{"\u00e9\u00a0x", "\u00e9\u00a0x"}, // U+00A0 is no white space here
	}
	for _, tt := range tests {
		if got := ReplaceWhitespace(tt.in); got != tt.want {
			t.Errorf("ReplaceWhitespace(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// A name without white space, as most are, comes back as it is.
	if n := testing.AllocsPerRun(10, func() { ReplaceWhitespace("nvme.1b36-31323334-51454d55-00000001") }); n != 0 {
		t.Errorf("ReplaceWhitespace of a name without white space: %v allocations, want 0", n)
	}
}

func TestAttr(t *testing.T) {
	if got := Attr(" a\tb/$ \t\r\n"); got != " a b/$" {
		t.Errorf("Attr = %q", got)
	}
}
