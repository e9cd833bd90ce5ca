package nvme

import (
	"encoding/hex"
	"errors"
	"slices"
)

// AppendUUID appends u to b in the text form of RFC 9562, 36 lowercase
// characters such as "123e4567-e89b-12d3-a456-426614174000", as Linux
// prints a namespace's UUID (NIDT 3h).
func AppendUUID(b []byte, u [16]byte) []byte {
	b = slices.Grow(b, 36)
	b = hex.AppendEncode(b, u[0:4])
	for _, part := range uuidParts {
		b = hex.AppendEncode(append(b, '-'), u[part[0]:part[1]])
	}
	return b
}

// uuidParts are the byte ranges of a UUID after the first, each written
// after a hyphen.
var uuidParts = [...][2]int{{4, 6}, {6, 8}, {8, 10}, {10, 16}}

// ErrInvalidUUID is returned by ParseUUID for text that is not a UUID.
var ErrInvalidUUID = errors.New("nvme: not a UUID (want 8-4-4-4-12 hexadecimal digits)")

// ParseUUID parses the 36-character text form of RFC 9562 that
// AppendUUID writes, in either case, as Linux's uuid_parse does (no
// braces, no "urn:uuid:" prefix). It returns ErrInvalidUUID for anything
// else.
func ParseUUID(s string) ([16]byte, error) {
	var u [16]byte
	if len(s) != 36 {
		return u, ErrInvalidUUID
	}
	if _, err := hex.Decode(u[0:4], []byte(s[0:8])); err != nil {
		return u, ErrInvalidUUID
	}
	at := 8
	for _, part := range uuidParts {
		n := 2 * (part[1] - part[0])
		if s[at] != '-' {
			return u, ErrInvalidUUID
		}
		if _, err := hex.Decode(u[part[0]:part[1]], []byte(s[at+1:at+1+n])); err != nil {
			return u, ErrInvalidUUID
		}
		at += 1 + n
	}
	return u, nil
}
