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
// extended slice. It fills the capacity b already has, then grows b,
// each time what it holds has arrived, by First bytes, by the bytes read
// so far, or by the bytes r has buffered (a *bufio.Reader), whichever is
// most: a peer that announces n bytes and
// sends k of them makes it hold at most about 2k + First bytes, and
// allocate about twice that in all, whatever n is.
//
// Errors are io.ReadFull's: io.EOF if r had no byte at all,
// io.ErrUnexpectedEOF if it ended after some, or r's error. The bytes
// read before an error are in the returned slice.
func ReadFull(r io.Reader, b []byte, n int) ([]byte, error) {
	start, want := len(b), len(b)+n
	for len(b) < want {
		if len(b) == cap(b) {
			more := max(First, len(b)-start)
			if br, ok := r.(buffered); ok {
				more = max(more, br.Buffered()) // bytes that have arrived
			}
			nb := make([]byte, len(b), len(b)+min(want-len(b), more))
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
