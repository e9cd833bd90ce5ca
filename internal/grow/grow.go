// Package grow reads a length a peer announced into a buffer that grows
// as the bytes arrive, as io.ReadAll grows its buffer: memory follows
// the bytes received, not the length announced. It is how iscsi reads a
// data segment and nvme/tcp a PDU larger than its reader's buffer.
package grow

import "io"

// First is the most ReadFull adds to a buffer before any byte of the
// data has arrived.
const First = 4096

// ReadFull appends exactly n bytes read from r to b and returns the
// extended slice. It fills the capacity b already has; then, each time
// that is full, it makes room for twice the bytes that have arrived
// (those read, and those r holds buffered if it is a *bufio.Reader), at
// least First, or for all n when that is at most a quarter more. A peer
// that announces n bytes and sends k of them makes it hold at most
// about 2.5 k bytes, or First, whatever n is.
//
// Errors are io.ReadFull's: io.EOF if r had no byte at all,
// io.ErrUnexpectedEOF if it ended after some, or r's error. The bytes
// read before an error are in the returned slice.
func ReadFull(r io.Reader, b []byte, n int) ([]byte, error) {
	start, want := len(b), len(b)+n
	for len(b) < want {
		if len(b) == cap(b) {
			arrived := len(b) - start
			if br, ok := r.(buffered); ok {
				arrived += br.Buffered()
			}
			size := max(First, 2*arrived)
			if n-size <= size/4 {
				size = n // the rest is small: no step of its own
			}
			nb := make([]byte, len(b), start+min(n, size))
			copy(nb, b)
			b = nb
		}
		k, err := io.ReadFull(r, b[len(b):min(want, cap(b))])
		b = b[:len(b)+k]
		if err != nil {
			if err == io.EOF && len(b) > start {
				err = io.ErrUnexpectedEOF
			}
			return b, err
		}
	}
	return b, nil
}

// buffered is a reader that holds bytes already received (*bufio.Reader).
type buffered interface{ Buffered() int }
