package target

import (
	"os"

	"golang.org/x/sys/unix"
)

// punchHole deallocates n bytes of f at off, keeping its size: a hole in
// a regular file, a discard on a block device (fallocate(2)).
func punchHole(f *os.File, off, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}
