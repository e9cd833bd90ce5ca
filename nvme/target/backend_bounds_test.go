package target

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// TestBackendBeyondShrunkEnd: once a backend is shrunk, reads, writes
// and zeroing beyond its new end fail with errBeyondEnd and a file does
// not grow back.
func TestBackendBeyondShrunkEnd(t *testing.T) {
	const mib = 1 << 20
	file, err := CreateFile(filepath.Join(t.TempDir(), "ns"), mib)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, tc := range []struct {
		name string
		b    interface {
			Backend
			Resizer
			Deallocator
		}
	}{
		{"memory", newMemory(mib)},
		{"file", file},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.b.Resize(mib / 2); err != nil {
				t.Fatal(err)
			}
			p := make([]byte, 4096)
			for _, op := range []struct {
				name string
				do   func() error
			}{
				{"write", func() error { _, err := tc.b.WriteAt(p, mib-4096); return err }},
				{"write across the end", func() error { _, err := tc.b.WriteAt(p, mib/2-512); return err }},
				{"read", func() error { _, err := tc.b.ReadAt(p, mib-4096); return err }},
				{"zero", func() error { return tc.b.Deallocate(mib-4096, 4096) }},
				{"negative offset", func() error { _, err := tc.b.WriteAt(p, -4096); return err }},
			} {
				if err := op.do(); !errors.Is(err, errBeyondEnd) {
					t.Errorf("%s beyond the end: %v, want errBeyondEnd", op.name, err)
				}
			}
			if tc.b == file {
				fi, err := os.Stat(file.f.Name())
				if err != nil || fi.Size() != mib/2 {
					t.Errorf("file after writes beyond its end: %d bytes, %v", fi.Size(), err)
				}
			}
			if err := tc.b.Resize(mib); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestResizeUnderIO shrinks and grows namespaces on memory and on a file
// while hosts write, read and write zeroes their last blocks and
// deallocate the whole namespace 256 times over: each command succeeds or
// fails with LBA Out of Range, never with a backend fault, and what lay
// beyond a shrink reads as zeros after growing again.
func TestResizeUnderIO(t *testing.T) {
	const (
		big, small = 1 << 20, 1 << 19
		rounds     = 200
	)
	file, err := CreateFile(filepath.Join(t.TempDir(), "ns"), big)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	tg, addr := startTarget(t, Config{})
	s := tg.Subsystems()[0]
	for _, ns := range []Namespace{{NSID: 1, Size: big}, {NSID: 2, Backend: file}} {
		if err := s.Attach(ns); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Dataset Management deallocates the whole namespace 256 times over
	// (ranges that overlap, each of the size before the shrink).
	var whole []nvme.DSMRange
	for range 256 {
		whole = append(whole, nvme.DSMRange{Length: big / 512})
	}
	wholeRanges := nvme.AppendDSMRanges(nil, whole...)
	const write, read, zeroes, dsm = 0, 1, 2, 3
	errs := make(chan error, 8)
	// seen[g]: goroutine g had a command succeed (0) and one fail (1).
	var seen [8][2]atomic.Bool
	for nsid := uint32(1); nsid <= 2; nsid++ {
		for _, op := range []int{write, read, zeroes, dsm} {
			g := &seen[int(nsid-1)*4+op]
			q := ioQueue(t, addr, tg.NQN(), tcp.HostConfig{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				ones := make([]byte, 8*512)
				for i := range ones {
					ones[i] = 0xff
				}
				for !stopped(stop) {
					var err error
					switch op {
					case write:
						_, err = q.Do(ctx, writeCmd(nsid, big/512-8, 8), ones)
					case read:
						_, err = q.Do(ctx, readCmd(nsid, big/512-8, 8), make([]byte, len(ones)))
					case zeroes:
						_, err = q.Do(ctx, writeZeroesCmd(nsid, big/512-8, 8), nil)
					case dsm:
						_, err = q.Do(ctx, dsmCmd(nsid, len(whole), true), wholeRanges)
					}
					var st nvme.Status
					if err != nil && (!errors.As(err, &st) || st.Code() != nvme.StatusLBAOutOfRange.Code()) {
						errs <- err
						return
					}
					outcome := 0
					if err != nil {
						outcome = 1 // LBA Out of Range
					}
					g[outcome].Store(true)
				}
			}()
		}
	}
	for round := 0; (round < rounds || !allSeen(&seen)) && len(errs) == 0; round++ {
		if round == 1000*rounds {
			t.Fatalf("after %d rounds, commands did not both succeed and fail on each queue", round)
		}
		for nsid := uint32(1); nsid <= 2; nsid++ {
			if err := s.Resize(nsid, small); err != nil {
				t.Fatal(err)
			}
			if err := s.Resize(nsid, big); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("I/O while resizing: %v", err)
	}
	for nsid := uint32(1); nsid <= 2; nsid++ {
		if err := s.Resize(nsid, small); err != nil {
			t.Fatal(err)
		}
		if err := s.Resize(nsid, big); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, big-small)
		if err := s.ReadAt(nsid, got, small); err != nil {
			t.Fatal(err)
		}
		for i, b := range got {
			if b != 0 {
				t.Fatalf("NSID %d: byte %d beyond the shrink reads %#x after growing", nsid, small+i, b)
			}
		}
	}
	if fi, err := os.Stat(file.f.Name()); err != nil || fi.Size() != big {
		t.Errorf("file: %d bytes, want %d (%v)", fi.Size(), big, err)
	}
}

// allSeen reports whether every flag of seen is set.
func allSeen(seen *[8][2]atomic.Bool) bool {
	for i := range seen {
		if !seen[i][0].Load() || !seen[i][1].Load() {
			return false
		}
	}
	return true
}

// stopped reports whether c is closed.
func stopped(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestResizeRefusedByFileSystem: a size the file system refuses (past
// its largest file) fails the resize with ErrInvalidNamespace and leaves
// the namespace, the file and the data as they were.
func TestResizeRefusedByFileSystem(t *testing.T) {
	const mib = 1 << 20
	file, err := CreateFile(filepath.Join(t.TempDir(), "ns"), mib)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	tg := newTarget(t, Config{})
	defer tg.Close()
	s := tg.Subsystems()[0]
	if err := s.Attach(Namespace{NSID: 1, Backend: file}); err != nil {
		t.Fatal(err)
	}
	marker := []byte("still here")
	if err := s.WriteAt(1, append(marker, make([]byte, 512-len(marker))...), mib-512); err != nil {
		t.Fatal(err)
	}
	const huge = 1<<63 - 512 // beyond any Linux file system's largest file
	if err := s.Resize(1, huge); !errors.Is(err, ErrInvalidNamespace) || !errors.Is(err, ErrBackend) {
		t.Fatalf("resize to %d: %v, want ErrInvalidNamespace and ErrBackend", uint64(huge), err)
	}
	if got := s.Namespaces()[0].Size; got != mib {
		t.Errorf("namespace size %d after the refused resize, want %d", got, mib)
	}
	if fi, err := os.Stat(file.f.Name()); err != nil || fi.Size() != mib || file.Size() != mib {
		t.Errorf("file after the refused resize: %d bytes, Size %d, %v", fi.Size(), file.Size(), err)
	}
	got := make([]byte, 512)
	if err := s.ReadAt(1, got, mib-512); err != nil || string(got[:len(marker)]) != string(marker) {
		t.Errorf("last block after the refused resize: %q, %v", got[:len(marker)], err)
	}
}
