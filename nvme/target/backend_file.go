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

// FileBackend is a Backend on a regular file or a block device. It
// implements Zeroer: it punches holes in regular files and discards
// blocks of devices (fallocate), and writes zeros where the file system
// or device cannot.
type FileBackend struct {
	f *os.File
	// mu is held for reading across each access and its bounds check,
	// and for writing by Resize: no access lands beyond a shrunk end.
	mu   sync.RWMutex
	size atomic.Int64 // bytes; changed by Resize under mu
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

// ZeroAt makes n bytes at off read as zeros, freeing their blocks where
// the file system or device can. Bytes beyond Size are refused with an
// error wrapping ErrBackend.
func (b *FileBackend) ZeroAt(off, n int64) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := check("zero", n, off, b.Size()); err != nil {
		return fmt.Errorf("%w: %w", ErrBackend, err)
	}
	if punchHole(b.f, off, n) == nil {
		return nil
	}
	return writeZeros(b.f, off, n)
}

// Sync commits the file's data to stable storage (os.File.Sync).
func (b *FileBackend) Sync() error { return b.f.Sync() }

// Close closes the file.
func (b *FileBackend) Close() error { return b.f.Close() }
