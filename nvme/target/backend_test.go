package target

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// TestMemoryBackend writes, zeroes and reads the sparse store: missing
// chunks read as zeros, zeroing frees whole chunks, and nothing is read,
// written or zeroed beyond the size.
func TestMemoryBackend(t *testing.T) {
	tests := []struct {
		name      string
		write     string
		writeAt   int64
		zeroAt, n int64 // n 0: no zeroing
		readAt    int64
		want      string
		allocated int
	}{
		{"across chunks", "hello", chunkSize - 2, 0, 0, chunkSize - 4, "\x00\x00hello\x00\x00", 2 * chunkSize},
		{"zero inside a chunk", "hello", 0, 1, 3, 0, "h\x00\x00\x00o", chunkSize},
		{"zero a whole chunk", "hello", chunkSize - 2, chunkSize, chunkSize, chunkSize - 2, "he\x00\x00\x00", chunkSize},
		{"zero more than is held", "hello", chunkSize - 2, 0, 4 * chunkSize, chunkSize - 2, "\x00\x00\x00\x00\x00", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemory(4 * chunkSize)
			if _, err := s.WriteAt([]byte(tt.write), tt.writeAt); err != nil {
				t.Fatal(err)
			}
			if tt.n > 0 {
				if err := s.Deallocate(tt.zeroAt, tt.n); err != nil {
					t.Fatal(err)
				}
			}
			got := make([]byte, len(tt.want))
			if _, err := s.ReadAt(got, tt.readAt); err != nil || string(got) != tt.want {
				t.Errorf("read %q, %v; want %q", got, err, tt.want)
			}
			if s.allocated() != tt.allocated {
				t.Errorf("allocated %d, want %d", s.allocated(), tt.allocated)
			}
		})
	}
	s := newMemory(4 * chunkSize)
	for name, err := range map[string]error{
		"read past the end":  func() error { _, err := s.ReadAt(make([]byte, 2), 4*chunkSize-1); return err }(),
		"write past the end": func() error { _, err := s.WriteAt(make([]byte, 1), 4*chunkSize); return err }(),
		"negative offset":    func() error { _, err := s.WriteAt(make([]byte, 1), -1); return err }(),
		"zero past the end":  s.Deallocate(1, 4*chunkSize),
		"zero a huge range":  s.Deallocate(0, 1<<62),
	} {
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %v, want io.ErrUnexpectedEOF", name, err)
		}
	}
}

// TestFileBackendOpen checks what CreateFile and OpenFile accept, and
// that a new file is sparse.
func TestFileBackendOpen(t *testing.T) {
	dir := t.TempDir()
	sized := filepath.Join(dir, "sized.img")
	if err := os.WriteFile(sized, make([]byte, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.img")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		open func() (*FileBackend, error)
		size int64 // 0: an error wrapping ErrBackend
	}{
		{"create", func() (*FileBackend, error) { return CreateFile(filepath.Join(dir, "new.img"), 1<<40) }, 1 << 40},
		{"create existing, same size", func() (*FileBackend, error) { return CreateFile(sized, 8192) }, 8192},
		{"create existing, other size", func() (*FileBackend, error) { return CreateFile(sized, 4096) }, 0},
		{"create, zero size", func() (*FileBackend, error) { return CreateFile(filepath.Join(dir, "zero.img"), 0) }, 0},
		{"create in a missing directory", func() (*FileBackend, error) { return CreateFile(filepath.Join(dir, "no", "x.img"), 4096) }, 0},
		{"create a directory", func() (*FileBackend, error) { return CreateFile(dir, 4096) }, 0},
		{"open existing", func() (*FileBackend, error) { return OpenFile(sized) }, 8192},
		{"open missing", func() (*FileBackend, error) { return OpenFile(filepath.Join(dir, "missing.img")) }, 0},
		{"open empty", func() (*FileBackend, error) { return OpenFile(empty) }, 0},
		{"open a directory", func() (*FileBackend, error) { return OpenFile(dir) }, 0},
		{"open a character device", func() (*FileBackend, error) { return OpenFile(os.DevNull) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.open()
			if tt.size == 0 {
				if !errors.Is(err, ErrBackend) {
					t.Fatalf("err %v, want ErrBackend", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.Size() != tt.size {
				t.Fatalf("size %d, want %d", b.Size(), tt.size)
			}
			fi, err := b.f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Blocks*512 > 1<<20 {
				t.Errorf("%d bytes allocated", st.Blocks*512)
			}
		})
	}
}

// TestBackendAttach refuses namespaces that do not fit their backend.
func TestBackendAttach(t *testing.T) {
	tg, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	b, err := CreateFile(filepath.Join(t.TempDir(), "ns.img"), 1<<20+512)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tests := []struct {
		name string
		ns   Namespace
		ok   bool
	}{
		{"the backend's size", Namespace{NSID: 1, Backend: b}, true},
		{"size not a multiple of 4096", Namespace{NSID: 2, Backend: b, BlockSize: 4096}, false},
		{"smaller than the backend", Namespace{NSID: 3, Backend: b, Size: 1 << 20, BlockSize: 4096}, true},
		{"larger than the backend", Namespace{NSID: 4, Backend: b, Size: 2 << 20}, false},
	}
	for _, tt := range tests {
		err := tg.Attach(tt.ns)
		if tt.ok != (err == nil) || !tt.ok && !errors.Is(err, ErrInvalidNamespace) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	if got := tg.subs[0].namespace(1).blocks; got != 2049 {
		t.Errorf("NSID 1: %d blocks, want 2049", got)
	}
}

// hidden is a Backend that is no Deallocator: the file's other methods
// are out of reach.
type hidden struct{ Backend }

// noPunch is a FileBackend on a file system that cannot punch holes (as
// vfat): Deallocate fails as fallocate(2) fails there, with EOPNOTSUPP,
// and it counts the bytes written.
type noPunch struct {
	*FileBackend
	written atomic.Int64
}

func (b *noPunch) Deallocates() bool { return false }

func (b *noPunch) Deallocate(off, n int64) error {
	return fmt.Errorf("%w: deallocate %d bytes at %d: %w", ErrBackend, n, off, syscall.EOPNOTSUPP)
}

func (b *noPunch) WriteAt(p []byte, off int64) (int, error) {
	b.written.Add(int64(len(p)))
	return b.FileBackend.WriteAt(p, off)
}

func dsmCmd(nsid uint32, nr int, ad bool) *nvme.Command {
	c := &nvme.Command{Opcode: nvme.OpDatasetManagement, NSID: nsid, CDW10: uint32(nr - 1)}
	if ad {
		c.CDW11 = nvme.DSMDeallocate
	}
	return c
}

func writeZeroesCmd(nsid uint32, slba uint64, nlb uint16) *nvme.Command {
	c := readCmd(nsid, slba, nlb)
	c.Opcode = nvme.OpWriteZeroes
	return c
}

// TestDeallocate sends Write Zeroes and Dataset Management to namespaces
// on memory, on a file, on a backend that is no Deallocator and on a
// file that cannot punch holes, and checks what Identify reports, what
// reads back and what was written.
func TestDeallocate(t *testing.T) {
	f, err := CreateFile(filepath.Join(t.TempDir(), "ns.img"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !f.Deallocates() {
		t.Fatal("a file in the test's directory cannot punch holes")
	}
	g, err := CreateFile(filepath.Join(t.TempDir(), "vfat.img"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	np := &noPunch{FileBackend: g}
	tg, addr := startTarget(t, Config{Namespaces: 1})
	for _, ns := range []Namespace{{NSID: 2, Backend: f}, {NSID: 3, Backend: hidden{f}, BlockSize: 4096}, {NSID: 4, Backend: np}} {
		if err := tg.Attach(ns); err != nil {
			t.Fatal(err)
		}
	}
	aq, _ := admin(t, addr, tg.NQN(), 0)
	b, err := identify(aq, nvme.CNSController, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ic nvme.IdentifyController
	ic.UnmarshalBinary(b)
	if ic.ONCS != nvme.ONCSDatasetManagement|nvme.ONCSWriteZeroes {
		t.Errorf("ONCS %#x", ic.ONCS)
	}
	q := ioQueue(t, addr, tg.NQN(), tcp.HostConfig{})
	ctx := context.Background()
	ones := bytes.Repeat([]byte{0xff}, 4*4096)
	tests := []struct {
		name    string
		nsid    uint32
		dlfeat  uint8
		bs      int
		zero    *nvme.Command
		data    []byte
		cleared bool  // blocks 1-2 read as zeros afterwards
		written int64 // bytes written to the file that cannot punch holes
	}{
		{"memory, write zeroes", 1, 9, 512, writeZeroesCmd(1, 1, 2), nil, true, 0},
		{"memory, deallocate", 1, 9, 512, dsmCmd(1, 1, true), nvme.AppendDSMRanges(nil, nvme.DSMRange{SLBA: 1, Length: 2}), true, 0},
		{"memory, DSM without AD", 1, 9, 512, dsmCmd(1, 1, false), nvme.AppendDSMRanges(nil, nvme.DSMRange{SLBA: 1, Length: 2}), false, 0},
		{"file, write zeroes", 2, 9, 512, writeZeroesCmd(2, 1, 2), nil, true, 0},
		{"file, deallocate two ranges", 2, 9, 512, dsmCmd(2, 2, true),
			nvme.AppendDSMRanges(nil, nvme.DSMRange{SLBA: 1, Length: 1}, nvme.DSMRange{SLBA: 2, Length: 1}), true, 0},
		{"no Deallocator, write zeroes", 3, 0, 4096, writeZeroesCmd(3, 1, 2), nil, true, 0},
		{"no Deallocator, deallocate", 3, 0, 4096, dsmCmd(3, 1, true), nvme.AppendDSMRanges(nil, nvme.DSMRange{SLBA: 1, Length: 2}), false, 0},
		{"no hole punching, write zeroes", 4, 0, 512, writeZeroesCmd(4, 1, 2), nil, true, 2 * 512},
		{"no hole punching, deallocate", 4, 0, 512, dsmCmd(4, 1, true), nvme.AppendDSMRanges(nil, nvme.DSMRange{SLBA: 1, Length: 2}), false, 0},
		{"no hole punching, deallocate everything", 4, 0, 512, dsmCmd(4, 2, true),
			nvme.AppendDSMRanges(nil, nvme.DSMRange{SLBA: 0, Length: 1 << 20 / 512}, nvme.DSMRange{SLBA: 1, Length: 2}), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := identify(aq, nvme.CNSNamespace, tt.nsid)
			if err != nil {
				t.Fatal(err)
			}
			var id nvme.IdentifyNamespace
			id.UnmarshalBinary(b)
			if id.DLFEAT != tt.dlfeat {
				t.Errorf("DLFEAT %#x, want %#x", id.DLFEAT, tt.dlfeat)
			}
			four := ones[:4*tt.bs]
			if _, err := q.Do(ctx, writeCmd(tt.nsid, 0, 4), four); err != nil {
				t.Fatal(err)
			}
			before := np.written.Load()
			if _, err := q.Do(ctx, tt.zero, tt.data); err != nil {
				t.Fatal(err)
			}
			if w := np.written.Load() - before; w != tt.written {
				t.Errorf("%d bytes written to the file that cannot punch holes, want %d", w, tt.written)
			}
			got := make([]byte, len(four))
			if _, err := q.Do(ctx, readCmd(tt.nsid, 0, 4), got); err != nil {
				t.Fatal(err)
			}
			want := bytes.Clone(four)
			if tt.cleared {
				clear(want[tt.bs : 3*tt.bs])
			}
			if !bytes.Equal(got, want) {
				t.Errorf("blocks 0-3 read back as %x…", got[tt.bs-2:tt.bs+2])
			}
		})
	}
}

// TestDeallocateBadInput: ranges and lengths a host gets wrong fail the
// command alone, change nothing, and the queue goes on serving.
func TestDeallocateBadInput(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 1, NamespaceSize: 1 << 20})
	q := ioQueue(t, addr, tg.NQN(), tcp.HostConfig{})
	ctx := context.Background()
	const blocks = 1 << 20 / 512
	marker := bytes.Repeat([]byte{0xa5}, 512)
	tests := []struct {
		name string
		cmd  *nvme.Command
		data []byte
		want nvme.Status
	}{
		{"write zeroes past the end", writeZeroesCmd(1, blocks-1, 2), nil, nvme.StatusLBAOutOfRange},
		{"write zeroes at a huge LBA", writeZeroesCmd(1, 1<<63, 1), nil, nvme.StatusLBAOutOfRange},
		{"write zeroes, inactive namespace", writeZeroesCmd(2, 0, 1), nil, nvme.StatusInvalidNamespace},
		{"range past the end", dsmCmd(1, 2, true),
			nvme.AppendDSMRanges(nil, nvme.DSMRange{SLBA: 0, Length: 1}, nvme.DSMRange{SLBA: blocks - 1, Length: 2}), nvme.StatusLBAOutOfRange},
		{"range at a huge LBA", dsmCmd(1, 1, true), nvme.AppendDSMRanges(nil, nvme.DSMRange{SLBA: 1 << 63, Length: 1 << 31}), nvme.StatusLBAOutOfRange},
		{"fewer ranges than NR", dsmCmd(1, 3, true), nvme.AppendDSMRanges(nil, nvme.DSMRange{Length: 1}), nvme.StatusSGLInvalidData},
		{"more ranges than NR", dsmCmd(1, 1, true), make([]byte, 32), nvme.StatusSGLInvalidData},
		{"no data", dsmCmd(1, 1, true), nil, nvme.StatusSGLInvalidData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := q.Do(ctx, writeCmd(1, 0, 1), marker); err != nil {
				t.Fatal(err)
			}
			_, err := q.Do(ctx, tt.cmd, tt.data)
			wantStatus(t, err, tt.want)
			got := make([]byte, 512)
			if _, err := q.Do(ctx, readCmd(1, 0, 1), got); err != nil || !bytes.Equal(got, marker) {
				t.Fatalf("block 0 after the failed command: %x…, %v", got[:4], err)
			}
		})
	}
}

// TestFileBackendFailure: a backing file cut short under the target
// fails the reads beyond its new end with Unrecovered Read Error; the
// target goes on serving.
func TestFileBackendFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ns.img")
	f, err := CreateFile(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tg, addr := startTarget(t, Config{})
	if err := tg.Attach(Namespace{NSID: 1, Backend: f}); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	q := ioQueue(t, addr, tg.NQN(), tcp.HostConfig{})
	ctx := context.Background()
	_, err = q.Do(ctx, readCmd(1, 100, 1), make([]byte, 512))
	wantStatus(t, err, nvme.StatusUnrecoveredReadError)
	if _, err := q.Do(ctx, readCmd(1, 0, 8), make([]byte, 4096)); err != nil {
		t.Fatalf("read within the file: %v", err)
	}
}

// TestFileBackendRestart writes through a host, stops the target, serves
// the same files from a new one, and reads back the same bytes.
func TestFileBackendRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ns.img")
	data := make([]byte, 256<<10) // 256 KiB: written through R2T
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	serve := func(do func(q *tcp.HostQueue)) {
		f, err := CreateFile(path, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		tg, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer tg.Close()
		if err := tg.Attach(Namespace{NSID: 1, Backend: f, BlockSize: 4096}); err != nil {
			t.Fatal(err)
		}
		addr, err := tg.Start(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		_, cntlid := admin(t, addr, tg.NQN(), 0)
		q := dial(t, addr, tcp.HostConfig{DataDigest: true})
		if _, err := connect(q, 1, cntlid, tg.NQN(), 0); err != nil {
			t.Fatal(err)
		}
		do(q)
	}
	ctx := context.Background()
	const slba = 64<<20/4096 - 64 // the last 256 KiB
	serve(func(q *tcp.HostQueue) {
		if _, err := q.Do(ctx, writeCmd(1, slba, 64), data); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Do(ctx, &nvme.Command{Opcode: nvme.OpFlush, NSID: 1}, nil); err != nil {
			t.Fatal(err)
		}
	})
	got := make([]byte, len(data))
	serve(func(q *tcp.HostQueue) {
		if _, err := q.Do(ctx, readCmd(1, slba, 64), got); err != nil {
			t.Fatal(err)
		}
	})
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatal("data read after the restart differs from the data written")
	}
}

// TestFileBackendBlockDevice serves a loop device: its size comes from
// the device, data written reads back, and zeroed blocks read as zeros.
// It needs root and losetup(8), and is skipped without them.
func TestFileBackendBlockDevice(t *testing.T) {
	img := filepath.Join(t.TempDir(), "loop.img")
	data := bytes.Repeat([]byte{0x5a}, 4<<20)
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Skipf("no loop device (root and losetup needed): %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "--detach", dev).Run() })
	f, err := OpenFile(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Size() != 4<<20 {
		t.Fatalf("%s: size %d, want %d", dev, f.Size(), 4<<20)
	}
	tg, addr := startTarget(t, Config{})
	if err := tg.Attach(Namespace{NSID: 1, Backend: f}); err != nil {
		t.Fatal(err)
	}
	q := ioQueue(t, addr, tg.NQN(), tcp.HostConfig{})
	ctx := context.Background()
	if _, err := q.Do(ctx, writeZeroesCmd(1, 8, 8), nil); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 16*512)
	if _, err := q.Do(ctx, readCmd(1, 0, 16), got); err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(data[:16*512])
	clear(want[8*512:])
	if !bytes.Equal(got, want) {
		t.Errorf("blocks 0-15 of %s: %x … %x", dev, got[:4], got[8*512:8*512+4])
	}
}

// BenchmarkBackend4KDepth32 reads and writes 4 KiB blocks, 32 commands
// in flight on one I/O queue, on a namespace in memory and on one in a
// file (in the test's temporary directory, usually the page cache).
func BenchmarkBackend4KDepth32(b *testing.B) {
	f, err := CreateFile(filepath.Join(b.TempDir(), "ns.img"), 64<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tg, addr := startTarget(b, Config{})
	for _, ns := range []Namespace{{NSID: 1, Size: 64 << 20}, {NSID: 2, Backend: f}} {
		if err := tg.Attach(ns); err != nil {
			b.Fatal(err)
		}
	}
	q := ioQueue(b, addr, tg.NQN(), tcp.HostConfig{})
	for _, bb := range []struct {
		name string
		nsid uint32
		cmd  func(nsid uint32, slba uint64, nlb uint16) *nvme.Command
	}{
		{"memory/read", 1, readCmd}, {"memory/write", 1, writeCmd},
		{"file/read", 2, readCmd}, {"file/write", 2, writeCmd},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.SetParallelism(16)
			b.SetBytes(4096)
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 4096)
				for i := uint64(0); pb.Next(); i++ {
					if _, err := q.Do(context.Background(), bb.cmd(bb.nsid, i%2048*8, 8), buf); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
		})
	}
}
