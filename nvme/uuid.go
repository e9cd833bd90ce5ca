package nvme

import (
	"encoding/hex"
	"slices"
)

// AppendUUID appends u to b in the text form of RFC 9562, 36 lowercase
// characters such as "123e4567-e89b-12d3-a456-426614174000", as Linux
// prints a namespace's UUID (NIDT 3h).
func AppendUUID(b []byte, u [16]byte) []byte {
	b = slices.Grow(b, 36)
	b = hex.AppendEncode(b, u[0:4])
	for _, part := range [...][2]int{{4, 6}, {6, 8}, {8, 10}, {10, 16}} {
		b = hex.AppendEncode(append(b, '-'), u[part[0]:part[1]])
	}
	return b
}
