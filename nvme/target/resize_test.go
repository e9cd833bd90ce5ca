package target

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fixed is a Backend that cannot change size.
type fixed struct{ *memory }

func (fixed) Resize() {} // not a Resizer: the method does not match

// TestResize grows and shrinks a namespace on each kind of backend: the
// size changes, what lay beyond a shrink reads as zeros after growing
// again, and a backend that cannot grow bounds the size.
func TestResize(t *testing.T) {
	const mib = 1 << 20
	file, err := CreateFile(filepath.Join(t.TempDir(), "ns"), mib)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, tc := range []struct {
		name    string
		backend Backend
		canGrow bool
	}{
		{"memory", nil, true},
		{"file", file, true},
		{"fixed", fixed{newMemory(mib)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t, Config{})
			defer tg.Close()
			s := tg.Subsystems()[0]
			if err := s.Attach(Namespace{NSID: 1, Size: mib, Backend: tc.backend}); err != nil {
				t.Fatal(err)
			}
			last := bytes.Repeat([]byte{0xa5}, 4096)
			if err := s.WriteAt(1, last, mib-4096); err != nil {
				t.Fatal(err)
			}
			if err := s.Resize(1, mib/2); err != nil {
				t.Fatal(err)
			}
			if err := s.ReadAt(1, make([]byte, 4096), mib-4096); !errors.Is(err, ErrInvalidNamespace) {
				t.Fatalf("read beyond the shrunk size: %v, want ErrInvalidNamespace", err)
			}
			err := s.Resize(1, 4*mib)
			if !tc.canGrow {
				if !errors.Is(err, ErrInvalidNamespace) || s.Namespaces()[0].Size != mib/2 {
					t.Fatalf("grow past a fixed backend: %v, size %d", err, s.Namespaces()[0].Size)
				}
				if err := s.Resize(1, mib); err != nil {
					t.Fatalf("grow back within the backend: %v", err)
				}
				return
			}
			if err != nil || s.Namespaces()[0].Size != 4*mib {
				t.Fatalf("grow: %v, size %d", err, s.Namespaces()[0].Size)
			}
			got := make([]byte, 4096)
			if err := s.ReadAt(1, got, mib-4096); err != nil || !bytes.Equal(got, make([]byte, 4096)) {
				t.Fatalf("data beyond a shrink survived it (err %v)", err)
			}
			if tc.backend == file {
				fi, err := os.Stat(file.f.Name())
				if err != nil || fi.Size() != 4*mib || file.Size() != 4*mib {
					t.Fatalf("file after growing: %v bytes, Size %d, %v", fi.Size(), file.Size(), err)
				}
			}
		})
	}
}
