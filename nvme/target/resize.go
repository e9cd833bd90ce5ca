package target

import (
	"fmt"
	"math"
)

// Resizer is implemented by a Backend whose size can change, as the
// memory store and FileBackend: Resize makes it size bytes; a part added
// reads as zeros, and shrinking drops the bytes from size on.
type Resizer interface {
	Resize(size int64) error
}

// Resize sets the size of namespace nsid to size bytes, a positive
// multiple of its block size of at most math.MaxInt64, and raises the
// namespace attribute changed event on the subsystem's controllers, as a
// change of capacity does (Asynchronous Event Information Notice 00h,
// its NSID in the Changed Namespace List log page 04h): Identify
// Namespace reports the new NSZE and NCAP, and a Linux host revalidates
// the namespace and changes its disk's size. A backend that is a Resizer
// changes size with it (shrinking drops the data beyond size); another
// backend bounds the size to its own. It returns an error wrapping
// ErrNoNamespace or ErrInvalidNamespace (and the Resizer's error).
func (s *Subsystem) Resize(nsid uint32, size uint64) error {
	s.mu.Lock()
	ns := s.ns[nsid]
	if ns == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: NSID %d", ErrNoNamespace, nsid)
	}
	if size == 0 || size%uint64(ns.BlockSize) != 0 || size > math.MaxInt64 {
		s.mu.Unlock()
		return fmt.Errorf("%w: size %d, want a positive multiple of the block size %d up to %d",
			ErrInvalidNamespace, size, ns.BlockSize, uint64(math.MaxInt64)/uint64(ns.BlockSize)*uint64(ns.BlockSize))
	}
	if r, ok := ns.data.(Resizer); ok {
		if err := r.Resize(int64(size)); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("%w: size %d: %w", ErrInvalidNamespace, size, err)
		}
	} else if have := ns.data.Size(); int64(size) > have {
		s.mu.Unlock()
		return fmt.Errorf("%w: size %d beyond the %d bytes of the backend, which cannot grow", ErrInvalidNamespace, size, have)
	}
	n := *ns
	n.Size, n.blocks = size, size/uint64(ns.BlockSize)
	s.ns[nsid] = &n
	s.mu.Unlock()
	s.notify(nsid)
	return nil
}

// Resize makes the store size bytes, dropping the bytes from size on.
func (s *memory) Resize(size int64) error {
	if size < 0 {
		return fmt.Errorf("target: size %d", size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.chunks {
		switch off := i * chunkSize; {
		case off >= size:
			delete(s.chunks, i)
		case off+chunkSize > size:
			clear(c[size-off:])
		}
	}
	s.size.Store(size)
	return nil
}

// Resize truncates or extends the file to size bytes (os.File.Truncate):
// an extension is sparse and reads as zeros. A block device keeps its
// size: a namespace may use less of it, not more. Errors wrap ErrBackend.
func (b *FileBackend) Resize(size int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	fi, err := b.f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBackend, err)
	}
	if !fi.Mode().IsRegular() {
		if size <= b.Size() {
			return nil // the namespace uses part of the device
		}
		return fmt.Errorf("%w: %s is a block device of %d bytes", ErrBackend, b.f.Name(), b.Size())
	}
	if err := b.f.Truncate(size); err != nil {
		return fmt.Errorf("%w: %w", ErrBackend, err)
	}
	b.size.Store(size)
	return nil
}

var _ Resizer = (*FileBackend)(nil)
