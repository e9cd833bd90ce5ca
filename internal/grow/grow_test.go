package grow

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// ReadFull returns exactly the bytes announced, appended to what the
// buffer held, with io.ReadFull's errors when the stream ends early.
func TestReadFull(t *testing.T) {
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	tests := []struct {
		name    string
		prefix  []byte
		capa    int // capacity of the buffer given
		sent, n int
		err     error
	}{
		{"nothing announced", nil, 0, 0, 0, nil},
		{"less than First", nil, 0, 100, 100, nil},
		{"exactly First", nil, 0, First, First, nil},
		{"many doublings", nil, 0, len(data), len(data), nil},
		{"after a prefix", []byte("head"), 0, 10_000, 10_000, nil},
		{"into capacity held", nil, 50_000, 40_000, 40_000, nil},
		{"beyond capacity held", []byte("x"), 5000, 70_000, 70_000, nil},
		{"no byte sent", nil, 0, 0, 1000, io.EOF},
		{"cut short", nil, 0, 5000, 90_000, io.ErrUnexpectedEOF},
		{"cut short after a prefix", []byte("head"), 0, 1, 2, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, src := range []struct {
				name string
				r    func(io.Reader) io.Reader
			}{
				// One byte a read: every chunk takes many reads.
				{"one byte a read", iotest.OneByteReader},
				// Bytes buffered count as arrived.
				{"bufio", func(r io.Reader) io.Reader { return bufio.NewReaderSize(r, 16<<10) }},
			} {
				b := append(make([]byte, 0, max(tt.capa, len(tt.prefix))), tt.prefix...)
				got, err := ReadFull(src.r(bytes.NewReader(data[:tt.sent])), b, tt.n)
				if err != tt.err {
					t.Fatalf("%s: err %v, want %v", src.name, err, tt.err)
				}
				want := append(bytes.Clone(tt.prefix), data[:min(tt.sent, tt.n)]...)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: %d bytes, want %d", src.name, len(got), len(want))
				}
			}
		})
	}
}

// A reader's error other than EOF is returned as it is.
func TestReadFullError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(make([]byte, 10)), iotest.ErrReader(boom))
	got, err := ReadFull(r, nil, 100)
	if err != boom || len(got) != 10 {
		t.Fatalf("%d bytes, err %v", len(got), err)
	}
}

// blocked is a stream of sent bytes, after which Read hands back the
// length of the buffer it was given and fails.
type blocked struct {
	sent  int
	asked int // len(p) of the Read beyond the bytes sent
}

func (b *blocked) Read(p []byte) (int, error) {
	if b.sent == 0 {
		b.asked = len(p)
		return 0, io.ErrClosedPipe
	}
	n := min(len(p), b.sent)
	clear(p[:n])
	b.sent -= n
	return n, nil
}

// The buffer waiting for bytes that have not arrived is at most First,
// or twice what did arrive: announcing 16 MiB costs nothing.
func TestReadFullFollowsArrival(t *testing.T) {
	for _, sent := range []int{0, 1, First, 3 * First, 1 << 20} {
		b := &blocked{sent: sent}
		got, err := ReadFull(b, nil, 16<<20)
		if err != io.ErrClosedPipe || len(got) != sent {
			t.Fatalf("sent %d: %d bytes, err %v", sent, len(got), err)
		}
		if limit := max(First, sent); cap(got) > 2*limit || b.asked > limit {
			t.Errorf("sent %d: waits with a buffer of %d bytes, asked for %d more", sent, cap(got), b.asked)
		}
	}
}

// BenchmarkReadFull reads a 48-byte header and the 256 KiB that follow
// it through a 64 KiB bufio.Reader, as iscsi and nvme/tcp read an iSCSI
// Data-Out or an NVMe/TCP H2CData PDU of that size when all of it has
// arrived: the data into a buffer that grows (grow) and, for comparison,
// into one buffer of the length announced (announced).
func BenchmarkReadFull(b *testing.B) {
	const n = 256 << 10
	stream := make([]byte, 48+n)
	for _, bc := range []struct {
		name string
		read func(io.Reader) error
	}{
		{"grow", func(r io.Reader) error {
			_, err := ReadFull(r, nil, n)
			return err
		}},
		{"announced", func(r io.Reader) error {
			_, err := io.ReadFull(r, make([]byte, n))
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src := bytes.NewReader(stream)
			r := bufio.NewReaderSize(src, 64<<10)
			var header [48]byte
			b.SetBytes(n)
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(stream)
				r.Reset(src)
				if _, err := io.ReadFull(r, header[:]); err != nil {
					b.Fatal(err)
				}
				if err := bc.read(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
