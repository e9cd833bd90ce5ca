package target

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// ErrBackend is wrapped by the errors of CreateFile and OpenFile.
var ErrBackend = errors.New("target: backend")

// FileBackend is a Backend on a regular file or a block device. It is a
// Deallocator: it punches holes in regular files and discards blocks of
// devices (fallocate(2) with FALLOC_FL_PUNCH_HOLE), where the file
// system or device can.
type FileBackend struct {
	f *os.File
	// mu is held for reading across each access and its bounds check,
	// and for writing by Resize: no access lands beyond a shrunk end.
	mu    sync.RWMutex
	size  atomic.Int64 // bytes; changed by Resize under mu
	punch bool         // a hole punched past the end at open succeeded
}

// CreateFile opens the regular file at path as the storage of a namespace
// of size bytes, creating it sparse (no block allocated) if it does not
// exist. An existing file keeps its data, and must have exactly size
// bytes: a namespace does not change size between runs unnoticed. Errors
// wrap ErrBackend and the os error.
func CreateFile(path string, size int64) (*FileBackend, error) {
	if size <= 0 {
		return nil, fmt.Errorf("%w: %s: size %d", ErrBackend, path, size)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBackend, err)
	}
	b, err := fileBackend(f)
	switch {
	case err != nil:
	case b.Size() == 0:
		if err = f.Truncate(size); err == nil {
			b.size.Store(size)
		}
	case b.Size() != size:
		err = fmt.Errorf("%w: %s has %d bytes, not %d (remove it, or give its size)", ErrBackend, path, b.Size(), size)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

// OpenFile opens an existing regular file or block device at path, read
// and write, as the storage of a namespace of its size (for a device, the
// size the kernel reports). Errors wrap ErrBackend and the os error.
func OpenFile(path string) (*FileBackend, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBackend, err)
	}
	b, err := fileBackend(f)
	if err == nil && b.Size() == 0 {
		err = fmt.Errorf("%w: %s is empty", ErrBackend, path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

// fileBackend checks that f is a regular file or a block device and
// reads its size.
func fileBackend(f *os.File) (*FileBackend, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBackend, err)
	}
	m := fi.Mode()
	if !m.IsRegular() && (m&os.ModeDevice == 0 || m&os.ModeCharDevice != 0) {
		return nil, fmt.Errorf("%w: %s is not a regular file or a block device (%v)", ErrBackend, f.Name(), m.Type())
	}
	size, err := f.Seek(0, io.SeekEnd) // a block device's Stat size is 0
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBackend, err)
	}
	b := &FileBackend{f: f}
	b.size.Store(size)
	// Whether the file system punches holes is known by punching one
	// where there is no data: past the end, keeping the size. A block
	// device refuses any range past its end, and one within it would
	// lose data: whether it discards is not known.
	b.punch = m.IsRegular() && punchHole(f, size, 4096) == nil
	return b, nil
}

// Size returns the size in bytes: the file's when opened, or the last
// Resize's.
func (b *FileBackend) Size() int64 { return b.size.Load() }

// ReadAt reads len(p) bytes at off (os.File.ReadAt); bytes beyond Size
// are refused with an error wrapping ErrBackend, also if the file grew
// under the target.
func (b *FileBackend) ReadAt(p []byte, off int64) (int, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := check("read", int64(len(p)), off, b.Size()); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBackend, err)
	}
	return b.f.ReadAt(p, off)
}

// WriteAt writes p at off (os.File.WriteAt); bytes beyond Size are
// refused with an error wrapping ErrBackend, and the file does not grow.
func (b *FileBackend) WriteAt(p []byte, off int64) (int, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := check("write", int64(len(p)), off, b.Size()); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBackend, err)
	}
	return b.f.WriteAt(p, off)
}

// Deallocates reports whether the file's file system punches holes, as
// found when the file was opened; it is false for a block device.
func (b *FileBackend) Deallocates() bool { return b.punch }

// Deallocate punches a hole of n bytes at off in a regular file, or
// discards them on a block device, so that they read as zeros; it writes
// nothing. Where the file system or device cannot, the error wraps
// errors.ErrUnsupported and nothing changed. Bytes beyond Size are
// refused with an error wrapping ErrBackend.
func (b *FileBackend) Deallocate(off, n int64) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := check("deallocate", n, off, b.Size()); err != nil {
		return fmt.Errorf("%w: %w", ErrBackend, err)
	}
	if err := punchHole(b.f, off, n); err != nil {
		return fmt.Errorf("%w: deallocate %d bytes at %d: %w", ErrBackend, n, off, err)
	}
	return nil
}

// Sync commits the file's data to stable storage (os.File.Sync).
func (b *FileBackend) Sync() error { return b.f.Sync() }

// Close closes the file.
func (b *FileBackend) Close() error { return b.f.Close() }
