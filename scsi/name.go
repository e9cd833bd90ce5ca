package scsi

import "math"

// DiskName returns the name the sd driver gives the disk of index n
// (sd_format_disk_name): sda … sdz, sdaa … sdzz, sdaaa …, in bijective
// base 26. It works for every n ≥ 0 up to math.MaxInt.
func DiskName(n int) string {
	var buf [24]byte // 26^14 > MaxInt64
	p := len(buf)
	for {
		p--
		buf[p] = 'a' + byte(n%26)
		n = n/26 - 1
		if n < 0 {
			break
		}
	}
	return "sd" + string(buf[p:])
}

// DiskIndex returns the index of an sd name, the inverse of DiskName: for
// every n ≥ 0 up to math.MaxInt, DiskIndex(DiskName(n)) == n. It returns
// -1 if name is not "sd" followed by lower-case letters, or names a disk
// beyond math.MaxInt (such as "sdcrpxnlskvljfhi" and every name of 15
// letters or more on 64-bit platforms).
func DiskIndex(name string) int {
	if len(name) < 3 || name[:2] != "sd" {
		return -1
	}
	// The name is n+1 in bijective base 26; n+1 ≤ MaxInt+1 ≤ 2^63.
	const limit = uint64(math.MaxInt) + 1
	v := uint64(0)
	for i := 2; i < len(name); i++ {
		c := name[i]
		if c < 'a' || c > 'z' {
			return -1
		}
		d := uint64(c-'a') + 1
		if v > (limit-d)/26 {
			return -1
		}
		v = v*26 + d
	}
	return int(v - 1)
}
