package tcp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
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

// A Reader that copied out a large PDU, up to maxPooled, holds nothing
// of it once it has read the next PDU: connections that each sent one
// PDU of MAXH2CDATA (128 KiB) and then only small ones, or nothing, do
// not keep that memory pinned (the buffer went back to a pool, emptied
// by the collector).
func TestReaderReleasesCopiedPDU(t *testing.T) {
	const readers, n = 64, 128 << 10
	small := appendHeader(nil, TypeCapsuleRsp, 0, CapsuleRspLen, 0, CapsuleRspLen)
	small = append(small, make([]byte, CapsuleRspLen-commonLen)...)
	for _, next := range []struct {
		name   string
		stream []byte
		err    error
	}{
		{"a small PDU", small, nil},
		{"a header announcing as much", h2cHeaderOnly(n, 0), io.ErrUnexpectedEOF},
		{"nothing", nil, io.EOF},
	} {
		t.Run(next.name, func(t *testing.T) {
			stream := append(h2cHeaderOnly(n, n), next.stream...) // one copy, read by all
			rs := make([]*Reader, readers)
			srcs := make([]bytes.Reader, readers)
			before := memtest.HeapInUse()
			for i := range rs {
				srcs[i].Reset(stream)
				rs[i] = NewReader(&srcs[i], n)
				if p, err := rs[i].Next(); err != nil || len(p.Data) != n {
					t.Fatalf("first PDU: %d bytes, %v", len(p.Data), err)
				}
				if _, err := rs[i].Next(); err != next.err {
					t.Fatalf("second PDU: %v, want %v", err, next.err)
				}
			}
			// Each Reader keeps its 64 KiB buffered reader and, after a
			// header, the few KiB grown for it.
			if grew, limit := memtest.HeapInUse()-before, uint64(readers*(64+16)<<10); int64(grew) > int64(limit) {
				t.Errorf("%d Readers after one %d-byte PDU each: heap grew %d bytes, want at most %d", readers, n, grew, limit)
			}
			runtime.KeepAlive(rs)
		})
	}
}

// A Reader whose PDU outgrew a buffer taken from the pool keeps the
// larger buffer only, not the pooled one as well.
func TestReaderDropsOutgrownBuffer(t *testing.T) {
	const readers, small, large = 32, 128 << 10, 1 << 20
	stream := append(h2cHeaderOnly(small, small), h2cHeaderOnly(large, large)...)
	rs := make([]*Reader, readers)
	srcs := make([]bytes.Reader, readers)
	before := memtest.HeapInUse()
	for i := range rs {
		srcs[i].Reset(stream)
		rs[i] = NewReader(&srcs[i], large)
		for _, n := range []int{small, large} {
			if p, err := rs[i].Next(); err != nil || len(p.Data) != n {
				t.Fatalf("PDU of %d bytes: %d bytes, %v", n, len(p.Data), err)
			}
		}
	}
	// Each Reader keeps its 64 KiB buffered reader and the large PDU's
	// buffer, not the 128 KiB one the large PDU began in.
	if grew, limit := memtest.HeapInUse()-before, uint64(readers*(64+1024+48)<<10); int64(grew) > int64(limit) {
		t.Errorf("%d Readers: heap grew %d bytes, want at most %d", readers, grew, limit)
	}
	runtime.KeepAlive(rs)
}

// Reading one large PDU after another, each arriving at once, reuses
// a buffer: a stream of H2CData PDUs of 128 KiB (the target's
// MAXH2CDATA), whose buffers go back to the pool, or of 1 MiB, whose
// buffer the Reader keeps, allocates about one such buffer, not one
// per PDU.
func TestReaderReusesCopiedBuffers(t *testing.T) {
	const pdus = 16
	for _, n := range []int{128 << 10, 1 << 20} {
		var stream []byte
		for range pdus {
			stream = append(stream, h2cHeaderOnly(n, n)...)
		}
		src := bytes.NewReader(stream)
		got := memtest.Allocated(4, func() {
			src.Reset(stream)
			r := NewReader(src, n)
			for range pdus {
				if _, err := r.Next(); err != nil {
					t.Fatal(err)
				}
			}
		})
		// The race detector's sync.Pool drops one Put in four.
		if limit := uint64(pdus * n / 2); got > limit {
			t.Errorf("%d PDUs of %d bytes allocated %d bytes, want at most %d", pdus, n, got, limit)
		}
	}
}

// BenchmarkReaderH2CData reads H2CData PDUs of 128 KiB (the target's
// MAXH2CDATA) and of 1 MiB, each larger than the Reader's buffer and so
// copied out of it: B/op is what reusing the copy's buffer leaves. One
// of 1 MiB is more than 2.5 times what the 64 KiB buffer holds when its
// header is read, so it grows a buffer of its own each time.
func BenchmarkReaderH2CData(b *testing.B) {
	for _, n := range []int{128 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dK", n>>10), func(b *testing.B) {
			one := h2cHeaderOnly(n, n)
			r := NewReader(&cycle{b: one}, n)
			b.SetBytes(int64(len(one)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
