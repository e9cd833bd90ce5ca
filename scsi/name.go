package scsi

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

// DiskIndex returns the index of an sd name, the inverse of DiskName, or
// -1 if name is not one.
func DiskIndex(name string) int {
	if len(name) < 3 || name[:2] != "sd" || len(name) > 2+13 {
		return -1
	}
	n := 0
	for _, c := range name[2:] {
		if c < 'a' || c > 'z' {
			return -1
		}
		n = n*26 + int(c-'a') + 1
	}
	return n - 1
}
