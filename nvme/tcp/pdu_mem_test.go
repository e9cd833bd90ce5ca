package tcp

import (
	"bytes"
	"io"
	"testing"

	"github.com/complchain/complchain/internal/memtest"
)

// h2cHeaderOnly is the header of an H2CData PDU announcing n bytes of
// data, followed by sent bytes of it.
func h2cHeaderOnly(n, sent int) []byte {
	b := appendHeader(nil, TypeH2CData, 0, DataHLen, DataHLen, DataHLen+n)
	b = append(b, make([]byte, DataHLen-commonLen)...)
	return append(b, make([]byte, sent)...)
}

// A peer that announces a PDU larger than the Reader's 64 KiB buffer (a
// 1 MiB H2CData) and sends part of it, or only its header, costs the
// Reader its buffer and about twice what it sent, not the PDU's PLEN.
func TestReaderMemoryFollowsData(t *testing.T) {
	const n = 1 << 20
	for _, sent := range []int{0, 1000, 64 << 10, 256 << 10} {
		stream := h2cHeaderOnly(n, sent)
		src := bytes.NewReader(stream)
		got := memtest.Allocated(8, func() {
			src.Reset(stream)
			if _, err := NewReader(src, n).Next(); err != io.ErrUnexpectedEOF {
				t.Fatalf("%d bytes sent: %v, want %v", sent, err, io.ErrUnexpectedEOF)
			}
		})
		if limit := uint64(64<<10 + 4*sent + 32<<10); got > limit {
			t.Errorf("%d bytes of %d sent: the Reader allocated %d bytes, want at most %d", sent, n, got, limit)
		}
	}
}

// BenchmarkReaderHeaderOnly reads the header of a 1 MiB H2CData PDU
// from a peer that then sends nothing, with the Reader's buffer already
// there: B/op is what each such connection makes the target allocate.
func BenchmarkReaderHeaderOnly(b *testing.B) {
	stream := h2cHeaderOnly(1<<20, 0)
	src := bytes.NewReader(stream)
	r := NewReader(src, 1<<20)
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(stream)
		r.r.Reset(src)
		r.buf = nil
		if _, err := r.Next(); err != io.ErrUnexpectedEOF {
			b.Fatal(err)
		}
	}
}
