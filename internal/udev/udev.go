// Package udev does what systemd's udev does to the strings it puts in
// device link names (systemd v257: src/udev/udev-format.c,
// src/shared/udev-util.c), byte for byte.
package udev

import (
	"strings"
	"unicode/utf8"
)

// Attr returns $attr{…} of value v as udev substitutes it: trailing
// white space (" \t\n\r") removed, then characters replaced as
// ReplaceChars with the allow list "/ $%?,".
func Attr(v string) string {
	return ReplaceChars(strings.TrimRight(v, " \t\n\r"), "/ $%?,")
}

// ReplaceChars is udev's udev_replace_chars: it keeps ASCII letters
// and digits, "#+-.:=@_", the characters of allow, "\x" pairs and valid
// multi-byte UTF-8 sequences; white space becomes ' ' when allow has a
// space, and every other byte becomes '_'.
func ReplaceChars(s, allow string) string {
	var b []byte // nil until a byte changes
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("#+-.:=@_", c) >= 0, strings.IndexByte(allow, c) >= 0:
			i++
			continue
		case c == '\\' && i+1 < len(s) && s[i+1] == 'x':
			i += 2
			continue
		}
		if n := utf8Valid(s[i:]); n > 1 {
			i += n
			continue
		}
		if b == nil {
			b = []byte(s)
		}
		if isSpace(c) && strings.IndexByte(allow, ' ') >= 0 {
			b[i] = ' '
		} else {
			b[i] = '_'
		}
		i++
	}
	if b == nil {
		return s
	}
	return string(b)
}

// utf8Valid returns the length of the UTF-8 sequence s starts with if
// systemd's utf8_encoded_valid_unichar accepts it, or 0: Go's decoding,
// less the noncharacters U+FDD0…U+FDEF and U+xFFFE, U+xFFFF.
func utf8Valid(s string) int {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n <= 1 {
		return 0
	}
	if 0xfdd0 <= r && r <= 0xfdef || r&0xfffe == 0xfffe {
		return 0
	}
	return n
}

// ReplaceWhitespace is udev's udev_replace_whitespace, applied to each
// substitution in a SYMLINK value: leading " \t\n\r" dropped, each run of
// white space before another character becomes one '_', trailing white
// space dropped.
func ReplaceWhitespace(s string) string {
	if !hasSpace(s) {
		return s // nothing to replace: most names
	}
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\r", s[i]) >= 0 {
		i++
	}
	b := make([]byte, 0, len(s)-i)
	space := false
	for ; i < len(s); i++ {
		if isSpace(s[i]) {
			space = true
			continue
		}
		if space {
			b = append(b, '_')
			space = false
		}
		b = append(b, s[i])
	}
	return string(b)
}

// isSpace is C's isspace in the C locale.
// hasSpace reports whether s holds a byte isSpace accepts.
func hasSpace(s string) bool {
	for i := range len(s) {
		if isSpace(s[i]) {
			return true
		}
	}
	return false
}

func isSpace(c byte) bool {
	return c == ' ' || '\t' <= c && c <= '\r'
}
