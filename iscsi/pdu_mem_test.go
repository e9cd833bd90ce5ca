package iscsi

import (
	"bytes"
	"io"
	"testing"

	"github.com/complchain/complchain/internal/memtest"
)

// headerOnly is the start of a Data-Out PDU announcing a data segment
// of the longest length, followed by sent bytes of it.
func headerOnly(sent int) []byte {
	var h BHS
	h.SetOpcode(OpDataOut, false)
	h.setLengths(0, MaxDataSegment)
	return append(h[:], make([]byte, sent)...)
}

// A peer that announces the longest data segment a side accepts and
// sends part of it, or only the header, costs ReadPDU about twice what
// it sent, not MaxRecvDataSegmentLength (16 MiB): many connections that
// send only headers hold a few KiB each.
func TestReadPDUMemoryFollowsData(t *testing.T) {
	l := Limits{MaxRecvDataSegmentLength: MaxDataSegment}
	for _, sent := range []int{0, 1000, 64 << 10, 1 << 20} {
		stream := headerOnly(sent)
		r := bytes.NewReader(stream)
		got := memtest.Allocated(8, func() {
			r.Reset(stream)
			if _, err := ReadPDU(r, l); err != io.ErrUnexpectedEOF {
				t.Fatalf("%d bytes sent: %v, want %v", sent, err, io.ErrUnexpectedEOF)
			}
		})
		if limit := uint64(4*sent + 32<<10); got > limit {
			t.Errorf("%d bytes of %d sent: ReadPDU allocated %d bytes, want at most %d", sent, MaxDataSegment, got, limit)
		}
	}
}

// BenchmarkReadPDUHeaderOnly reads a header that announces a 16 MiB data
// segment from a peer that then sends nothing: B/op is what each such
// connection makes its peer allocate.
func BenchmarkReadPDUHeaderOnly(b *testing.B) {
	stream := headerOnly(0)
	r := bytes.NewReader(stream)
	l := Limits{MaxRecvDataSegmentLength: MaxDataSegment}
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(stream)
		if _, err := ReadPDU(r, l); err != io.ErrUnexpectedEOF {
			b.Fatal(err)
		}
	}
}
