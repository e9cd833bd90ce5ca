package target

import "sync"

const chunkSize = 4096

// store is sparse byte storage: only chunks that were written exist, and
// missing chunks read as zeros.
type store struct {
	mu     sync.RWMutex
	chunks map[uint64]*[chunkSize]byte
}

func (s *store) readAt(p []byte, off uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for len(p) > 0 {
		i, o := off/chunkSize, off%chunkSize
		n := min(uint64(len(p)), chunkSize-o)
		if c := s.chunks[i]; c != nil {
			copy(p[:n], c[o:])
		} else {
			clear(p[:n])
		}
		p, off = p[n:], off+n
	}
}

func (s *store) writeAt(p []byte, off uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chunks == nil {
		s.chunks = make(map[uint64]*[chunkSize]byte)
	}
	for len(p) > 0 {
		i, o := off/chunkSize, off%chunkSize
		n := min(uint64(len(p)), chunkSize-o)
		c := s.chunks[i]
		if c == nil {
			c = new([chunkSize]byte)
			s.chunks[i] = c
		}
		copy(c[o:], p[:n])
		p, off = p[n:], off+n
	}
}

// allocated returns the number of bytes the store holds.
func (s *store) allocated() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.chunks) * chunkSize
}
