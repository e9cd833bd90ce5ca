// Package memtest measures, for tests, what hostile input costs in
// memory: the bytes a call allocates, the live heap, and the goroutines
// and heap a test leaves behind. It is imported by _test files only.
package memtest

import (
	"math"
	"runtime"
	"testing"

	"go.uber.org/goleak"
)

// Allocated returns the bytes the heap allocated while f ran, the least
// of runs calls: allocations of other goroutines running meanwhile count
// too, and the least is the call they disturbed least.
func Allocated(runs int, f func()) uint64 {
	least := uint64(math.MaxUint64)
	var before, after runtime.MemStats
	for range runs {
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// HeapInUse returns the bytes of live heap after two collections (the
// second empties sync.Pool's victim caches).
func HeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Bounded checks, at the end of the test, that no goroutine started
// during it is left (goleak) and that the live heap grew by less than
// limit bytes across it.
func Bounded(t testing.TB, limit uint64) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	before := HeapInUse()
	t.Cleanup(func() {
		goleak.VerifyNone(t, ignore)
		if after := HeapInUse(); after > before+limit {
			t.Errorf("heap grew from %d to %d bytes, limit %d more", before, after, limit)
		}
	})
}
