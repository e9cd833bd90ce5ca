package target

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Backend is the storage of a namespace: Size bytes, read and written at
// byte offsets. The target calls ReadAt and WriteAt concurrently, for whole
// blocks within the namespace; an error, or a short read or write, fails
// that one command (Unrecovered Read Error 281h, Write Fault 280h) and the
// target goes on serving. The memory store and FileBackend refuse bytes
// beyond their Size under the lock their Resize takes, so that a command
// racing a Resize that shrinks its namespace fails with LBA Out of Range
// (80h) instead. The caller that hands a Backend to Attach owns
// it: the target never closes it, also not on Detach. Flush calls the
// backend's Sync method, if it has one (func() error, as FileBackend).
type Backend interface {
	io.ReaderAt
	io.WriterAt
	Size() int64 // bytes
}

// Deallocator is implemented by a Backend that can deallocate: free the
// storage of a range without writing it, after which the range reads as
// zeros (NVM Command Set Specification 3.3.3, Dataset Management).
//
// Deallocate frees n bytes at off and writes nothing. Where the backend
// cannot (a file system without hole punching, a device that does not
// discard to zeros) it changes nothing and returns an error wrapping
// errors.ErrUnsupported. Deallocates reports whether Deallocate is known
// to work on this backend, for its whole life.
//
// Identify Namespace DLFEAT says that deallocated blocks read as zeros,
// and that Write Zeroes honours DEAC, only for a namespace whose backend
// Deallocates; otherwise it reports nothing of their read behaviour.
// Dataset Management with the AD bit calls Deallocate and is a hint
// where the backend cannot take it: no zeros are written for it, so a
// command of a few bytes never makes the target write the namespace.
// Write Zeroes is exact: it calls Deallocate, and writes zeros with
// WriteAt where that fails or the backend is no Deallocator.
type Deallocator interface {
	Deallocate(off, n int64) error
	Deallocates() bool
}

// zeroAt makes n bytes of b at off read as zeros: it deallocates them
// if it can, else writes zeros (which fail as Deallocate did for bytes
// beyond the end).
func zeroAt(b Backend, off, n int64) error {
	if d, ok := b.(Deallocator); ok && d.Deallocate(off, n) == nil {
		return nil
	}
	return writeZeros(b, off, n)
}

// zeros is what writeZeros writes, a chunk at a time.
var zeros [64 << 10]byte

// writeZeros writes n zero bytes to w at off.
func writeZeros(w io.WriterAt, off, n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := w.WriteAt(zeros[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// errBeyondEnd is wrapped by the errors of the memory store and of
// FileBackend for bytes beyond their size: a command that passed the
// namespace's bounds before a Resize shrank it fails with LBA Out of
// Range, as if it had come after.
var errBeyondEnd = errors.New("beyond the end")

const chunkSize = 4096

// memory is the default Backend: sparse byte storage in which only chunks
// that were written exist, and missing chunks read as zeros.
type memory struct {
	size   atomic.Int64 // bytes; changed by Resize under mu
	mu     sync.RWMutex // held to check bounds and access chunks
	chunks map[int64]*[chunkSize]byte
}

// newMemory returns an empty store of size bytes.
func newMemory(size int64) *memory {
	m := new(memory)
	m.size.Store(size)
	return m
}

func (s *memory) Size() int64 { return s.size.Load() }

// check returns an error wrapping errBeyondEnd and io.ErrUnexpectedEOF
// unless n bytes at off lie within size bytes.
func check(op string, n, off, size int64) error {
	if off < 0 || n < 0 || off > size || n > size-off {
		return fmt.Errorf("target: %s of %d bytes at %d: %w of %d bytes: %w", op, n, off, errBeyondEnd, size, io.ErrUnexpectedEOF)
	}
	return nil
}

func (s *memory) ReadAt(p []byte, off int64) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := check("read", int64(len(p)), off, s.Size()); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		i, o := off/chunkSize, off%chunkSize
		k := min(int64(len(p)), chunkSize-o)
		if c := s.chunks[i]; c != nil {
			copy(p[:k], c[o:])
		} else {
			clear(p[:k])
		}
		p, off = p[k:], off+k
	}
	return n, nil
}

func (s *memory) WriteAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := check("write", int64(len(p)), off, s.Size()); err != nil {
		return 0, err
	}
	n := len(p)
	if s.chunks == nil {
		s.chunks = make(map[int64]*[chunkSize]byte)
	}
	for len(p) > 0 {
		i, o := off/chunkSize, off%chunkSize
		k := min(int64(len(p)), chunkSize-o)
		c := s.chunks[i]
		if c == nil {
			c = new([chunkSize]byte)
			s.chunks[i] = c
		}
		copy(c[o:], p[:k])
		p, off = p[k:], off+k
	}
	return n, nil
}

// Deallocates reports true: memory always deallocates.
func (s *memory) Deallocates() bool { return true }

// Deallocate frees the chunks n bytes at off cover whole and clears the
// parts of the others.
func (s *memory) Deallocate(off, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := check("deallocate", n, off, s.Size()); err != nil {
		return err
	}
	if int64(len(s.chunks)) < n/chunkSize {
		// Fewer chunks than the range covers: visit the chunks, not the range.
		for i, c := range s.chunks {
			lo, hi := max(i*chunkSize, off), min((i+1)*chunkSize, off+n)
			if lo < hi {
				s.clearLocked(i, c, lo-i*chunkSize, hi-i*chunkSize)
			}
		}
		return nil
	}
	for n > 0 {
		i, o := off/chunkSize, off%chunkSize
		k := min(n, chunkSize-o)
		if c := s.chunks[i]; c != nil {
			s.clearLocked(i, c, o, o+k)
		}
		off, n = off+k, n-k
	}
	return nil
}

// clearLocked clears bytes lo..hi of chunk i, and frees it when that is
// all of it.
func (s *memory) clearLocked(i int64, c *[chunkSize]byte, lo, hi int64) {
	if lo == 0 && hi == chunkSize {
		delete(s.chunks, i)
		return
	}
	clear(c[lo:hi])
}

// allocated returns the number of bytes the store holds.
func (s *memory) allocated() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.chunks) * chunkSize
}
