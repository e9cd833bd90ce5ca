package iscsi

// serialLess reports whether a < b in 32-bit serial number arithmetic
// (RFC 1982 with SERIAL_BITS 32, as RFC 7143 §4.2.2.1 requires for
// CmdSN, StatSN and the other sequence numbers). Numbers exactly 2^31
// apart compare false both ways, as RFC 1982 leaves them undefined.
func serialLess(a, b uint32) bool {
	return a != b && (a < b && b-a < 1<<31 || a > b && a-b > 1<<31)
}

// inWindow reports whether sn is within [lo, hi] in serial arithmetic.
func inWindow(sn, lo, hi uint32) bool { return !serialLess(sn, lo) && !serialLess(hi, sn) }
