package tcp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
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

// FuzzReaderCopied reads a stream through a Reader whose buffer is 16
// bytes, so that every PDU is copied out and read as it arrives
// (grow.ReadFull), and through one of 64 KiB, where PDUs are read in
// place: both must give the same PDUs and the same errors, and the
// copy's buffer never exceeds the largest PDU allowed (with the
// allocator's rounding).
func FuzzReaderCopied(f *testing.F) {
	for _, name := range []string{"linux-nodigest.h2c", "linux-digests.c2h"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 8192)], name == "linux-digests.c2h")
	}
	f.Add(h2cHeaderOnly(8000, 100), false)
	f.Fuzz(func(t *testing.T, stream []byte, digests bool) {
		inPlace := NewReader(bytes.NewReader(stream), 8192)
		copied := &Reader{r: bufio.NewReaderSize(bytes.NewReader(stream), 16), maxData: 8192}
		for _, r := range []*Reader{inPlace, copied} {
			r.SetDigests(digests, digests)
		}
		for range 1000 {
			p, err := inPlace.Next()
			q, cerr := copied.Next()
			if (err == nil) != (cerr == nil) || err != nil && err.Error() != cerr.Error() {
				t.Fatalf("in place: %v; copied: %v", err, cerr)
			}
			if err != nil && !errors.Is(err, ErrDataDigest) {
				return
			}
			if p.Header != q.Header || !bytes.Equal(p.Specific, q.Specific) || !bytes.Equal(p.Data, q.Data) {
				t.Fatalf("in place %+v, copied %+v", p.Header, q.Header)
			}
			if cap(copied.buf) > 10<<10 {
				t.Fatalf("buffer grew to %d bytes", cap(copied.buf))
			}
		}
	})
}
