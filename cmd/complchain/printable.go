package main

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Strings a peer supplies (model and serial numbers, firmware revisions,
// NQNs, SCSI vendor, product and revision) can hold any byte: a target
// could ring the bell, move the cursor or rewrite the terminal through
// them. printable makes one fit for a terminal, and wireString for JSON.

// printable returns s with every rune that is not printable (control
// characters, DEL, C1 controls such as U+009B CSI, invalid UTF-8, format
// characters) written as a Go escape, \x1b or \u009b, and backslashes
// doubled when anything is escaped, so that escaped text is never
// mistaken for the peer's.
func printable(s string) string {
	if isPrintable(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = appendHex(append(b, `\x`...), uint32(s[i]), 2)
		case r == '\\':
			b = append(b, `\\`...)
		case unicode.IsPrint(r):
			b = append(b, s[i:i+n]...)
		case r < utf8.RuneSelf:
			b = appendHex(append(b, `\x`...), uint32(r), 2)
		case r <= 0xffff:
			b = appendHex(append(b, `\u`...), uint32(r), 4)
		default:
			b = appendHex(append(b, `\U`...), uint32(r), 8)
		}
		i += n
	}
	return string(b)
}

// appendHex appends the n low hexadecimal digits of v.
func appendHex(b []byte, v uint32, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, "0123456789abcdef"[v>>(4*i)&0xf])
	}
	return b
}

// isPrintable reports whether every rune of s is valid and printable.
func isPrintable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// wireString is a string from a peer in JSON output: encoded with every
// rune that is not printable as a \u escape (invalid UTF-8 as U+FFFD), so
// that the JSON decodes to the peer's string yet printing it raw cannot
// drive a terminal. encoding/json alone leaves DEL and C1 controls as
// they are.
type wireString string

// MarshalJSON implements json.Marshaler.
func (s wireString) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for _, r := range string(s) {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r != utf8.RuneError && unicode.IsPrint(r):
			b = utf8.AppendRune(b, r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			b = appendHex(append(appendHex(append(b, `\u`...), uint32(r1), 4), `\u`...), uint32(r2), 4)
		default:
			b = appendHex(append(b, `\u`...), uint32(r), 4)
		}
	}
	return append(b, '"'), nil
}

// wireStrings converts peer-derived strings (such as by-id names, which
// keep valid UTF-8 whatever it encodes) for JSON output.
func wireStrings(s []string) []wireString {
	if s == nil {
		return nil
	}
	out := make([]wireString, len(s))
	for i, v := range s {
		out[i] = wireString(v)
	}
	return out
}
