package iscsi

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text limits (RFC 7143 §6.1): a key name is at most MaxKeyLength bytes
// of letters, digits, '.', '-', '+', '@' and '_'; a value at most
// MaxValueLength bytes of UTF-8. MaxTextLength bounds the text of one
// exchange (the data segments of a Login or Text sequence joined through
// their C bits): longer text is a *ProtocolError.
const (
	MaxKeyLength   = 63
	MaxValueLength = 8192
	MaxTextLength  = 1 << 20
)

// A Pair is one key=value of a text data segment.
type Pair struct{ Key, Value string }

// ParseText decodes a text data segment (RFC 7143 §6.1): key=value items,
// each ended by a NUL byte. Empty items (padding NULs) are skipped. A
// last item without its NUL, an item without '=', a key or value beyond
// the limits or with bytes the RFC does not allow, and text longer than
// MaxTextLength are a *ProtocolError. The pairs are in order; keys may
// repeat (SendTargets lists TargetName and TargetAddress many times).
func ParseText(op Opcode, b []byte) ([]Pair, error) {
	bad := func(format string, a ...any) error {
		return &ProtocolError{Op: op, Reason: "text: " + fmt.Sprintf(format, a...)}
	}
	if len(b) > MaxTextLength {
		return nil, bad("%d bytes, more than %d", len(b), MaxTextLength)
	}
	if len(b) > 0 && b[len(b)-1] != 0 {
		return nil, bad("last key=value not ended by NUL")
	}
	var pairs []Pair
	for item := range bytes.SplitSeq(b, []byte{0}) {
		if len(item) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(item, []byte("="))
		switch {
		case !ok:
			return nil, bad("item %q has no '='", trunc(item))
		case len(k) == 0 || len(k) > MaxKeyLength:
			return nil, bad("key of %d bytes", len(k))
		case !validKey(k):
			return nil, bad("key %q has bytes outside a-z A-Z 0-9 . - + @ _", trunc(k))
		case len(v) > MaxValueLength:
			return nil, bad("value of key %s has %d bytes, more than %d", k, len(v), MaxValueLength)
		case !utf8.Valid(v):
			return nil, bad("value of key %s is not UTF-8", k)
		}
		pairs = append(pairs, Pair{string(k), string(v)})
	}
	return pairs, nil
}

func trunc(b []byte) []byte { return b[:min(len(b), 32)] }

func validKey(k []byte) bool {
	for _, c := range k {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-+@_", c) >= 0) {
			return false
		}
	}
	return true
}

// AppendText appends pairs as key=value items, each ended by NUL.
func AppendText(b []byte, pairs ...Pair) []byte {
	for _, p := range pairs {
		b = append(b, p.Key...)
		b = append(b, '=')
		b = append(b, p.Value...)
		b = append(b, 0)
	}
	return b
}
