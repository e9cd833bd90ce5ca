package memtest

import (
	"testing"
)

var sink []byte

// Allocated counts the bytes a call allocates, per call.
func TestAllocated(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{{"nothing", 0}, {"1 MiB", 1 << 20}, {"16 MiB", 16 << 20}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Allocated(4, func() {
				if tt.n > 0 {
					sink = make([]byte, tt.n)
				}
			})
			sink = nil
			if got < uint64(tt.n) || got > uint64(tt.n)+64<<10 {
				t.Errorf("%d bytes per call, want %d", got, tt.n)
			}
		})
	}
}

// HeapInUse sees memory held, and no longer sees it once it is freed.
func TestHeapInUse(t *testing.T) {
	before := HeapInUse()
	sink = make([]byte, 32<<20)
	held := HeapInUse()
	sink = nil
	after := HeapInUse()
	const slack = 1 << 20 // the runtime's and the test's own small objects
	if held < before+32<<20-slack || after > held-32<<20+slack {
		t.Errorf("heap %d, %d while holding 32 MiB, %d after", before, held, after)
	}
}

// Bounded fails a test that leaves a goroutine or holds memory.
func TestBounded(t *testing.T) {
	tests := []struct {
		name  string
		leave func(stop chan struct{})
	}{
		{"goroutine", func(stop chan struct{}) { go func() { <-stop }() }},
		{"heap", func(chan struct{}) { sink = make([]byte, 8<<20) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stop := make(chan struct{})
			defer func() { sink = nil }()
			defer close(stop) // after the check: the goroutine is still there
			var ft fakeT
			func() {
				defer ft.cleanup()
				Bounded(&ft, 1<<20)
				tt.leave(stop)
			}()
			if !ft.failed {
				t.Errorf("Bounded did not fail a test that leaves a %s", tt.name)
			}
		})
	}
	var ft fakeT
	func() {
		defer ft.cleanup()
		Bounded(&ft, 1<<20)
	}()
	if ft.failed {
		t.Errorf("Bounded failed a test that leaves nothing")
	}
}

// fakeT records failures and cleanups, so that a check that must fail
// can be run.
type fakeT struct {
	testing.TB
	failed   bool
	cleanups []func()
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Cleanup(fn func())     { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Error(...any)          { f.failed = true }
func (f *fakeT) Name() string          { return "fake" }
func (f *fakeT) cleanup() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}
