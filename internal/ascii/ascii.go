// Package ascii writes and reads the fixed-width text fields of NVMe and
// SCSI data structures: ASCII, left-justified and padded with spaces, as
// Identify Controller's SN, MN and FR (NVMe Base Specification) and
// INQUIRY's vendor, product and revision (SPC-4) are.
package ascii

import "bytes"

// Pad copies s into field and fills the rest of field with spaces; the
// part of s beyond len(field) is cut.
func Pad(field []byte, s string) {
	n := copy(field, s)
	for i := n; i < len(field); i++ {
		field[i] = ' '
	}
}

// Trim returns field without its trailing spaces and NULs (some devices
// pad with NULs).
func Trim(field []byte) string { return string(bytes.TrimRight(field, " \x00")) }
