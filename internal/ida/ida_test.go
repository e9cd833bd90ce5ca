package ida

import (
	"math/rand/v2"
	"sync"
	"testing"
)

func TestSmallestFree(t *testing.T) {
	var a IDA
	for want := 1; want <= 200; want++ {
		if got := a.Get(1); got != want {
			t.Fatalf("Get(1) = %d, want %d", got, want)
		}
	}
	a.Put(70)
	a.Put(3)
	for _, want := range []int{3, 70, 201} {
		if got := a.Get(1); got != want {
			t.Fatalf("Get(1) after frees = %d, want %d", got, want)
		}
	}
	if got := a.Get(1000); got != 1000 {
		t.Fatalf("Get(1000) = %d, want 1000", got)
	}
	if got := a.Get(1); got != 202 {
		t.Fatalf("Get(1) after Get(1000) = %d, want 202", got)
	}
	if a.Len() != 203 {
		t.Fatalf("Len = %d, want 203", a.Len())
	}
}

// FuzzAgainstReference checks Get and Put against a map.
func FuzzAgainstReference(f *testing.F) {
	f.Add([]byte{1, 2, 3, 200, 5, 130, 7})
	f.Add([]byte{0, 0, 0, 255, 255, 64, 65, 128})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var a IDA
		ref := map[int]bool{}
		for i, op := range ops {
			if op&1 == 0 {
				min := int(op >> 3)
				want := min
				for ref[want] {
					want++
				}
				if got := a.Get(min); got != want {
					t.Fatalf("op %d: Get(%d) = %d, want %d", i, min, got, want)
				}
				ref[want] = true
			} else {
				id := int(op >> 1)
				a.Put(id)
				delete(ref, id)
			}
		}
		if a.Len() != len(ref) {
			t.Fatalf("Len = %d, want %d", a.Len(), len(ref))
		}
	})
}

func TestRandomAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ops := make([]byte, 20000)
	for i := range ops {
		ops[i] = byte(rng.IntN(256))
	}
	var a IDA
	ref := map[int]bool{}
	for _, op := range ops {
		if op%3 != 0 {
			want := 1
			for ref[want] {
				want++
			}
			if got := a.Get(1); got != want {
				t.Fatalf("Get(1) = %d, want %d", got, want)
			}
			ref[want] = true
		} else {
			id := 1 + int(op)
			a.Put(id)
			delete(ref, id)
		}
	}
}

func BenchmarkGetPut10000(b *testing.B) {
	var a IDA
	for range 10000 {
		a.Get(1)
	}
	for i := 0; b.Loop(); i++ {
		id := 1 + i%10000
		a.Put(id)
		a.Get(1)
	}
}

func TestNegativeMin(t *testing.T) {
	var a IDA
	for want := range 3 {
		if got := a.Get(-5); got != want {
			t.Fatalf("Get(-5) = %d, want %d", got, want)
		}
	}
	a.Put(-1) // not taken: nothing happens
	a.Put(1 << 40)
	if a.Len() != 3 {
		t.Fatalf("Len = %d, want 3", a.Len())
	}
}

// Concurrent Gets never hand out one ID twice, and together take exactly
// the IDs 0..n-1.
func TestConcurrent(t *testing.T) {
	var a IDA
	const workers, each = 8, 500
	ids := make([][]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := a.Get(0)
				ids[w] = append(ids[w], id)
				if i%3 == 0 { // churn: give one back and take one again
					a.Put(id)
					ids[w][len(ids[w])-1] = a.Get(0)
				}
			}
		})
	}
	wg.Wait()
	seen := make([]bool, workers*each)
	for _, l := range ids {
		for _, id := range l {
			if id < 0 || id >= len(seen) || seen[id] {
				t.Fatalf("ID %d handed out twice or out of range", id)
			}
			seen[id] = true
		}
	}
}

// TestRunHint: Gets in a row from an empty IDA, as a scan names its
// namespaces, keep the taken run [lo, hi) up to date, so each starts
// where the last one ended instead of at word 0; a Put inside the run
// shortens it.
func TestRunHint(t *testing.T) {
	tests := []struct {
		name   string
		min    int
		gets   int
		put    int // freed after the Gets, if positive
		lo, hi int
	}{
		{name: "from 1", min: 1, gets: 1000, lo: 1, hi: 1001},
		{name: "from 0", min: 0, gets: 100, lo: 0, hi: 100},
		{name: "put inside", min: 1, gets: 100, put: 40, lo: 1, hi: 40},
		{name: "put below", min: 5, gets: 10, put: 2, lo: 5, hi: 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a IDA
			for range tt.gets {
				a.Get(tt.min)
			}
			if tt.put > 0 {
				a.Put(tt.put)
			}
			if a.lo != tt.lo || a.hi != tt.hi {
				t.Fatalf("run [%d, %d), want [%d, %d)", a.lo, a.hi, tt.lo, tt.hi)
			}
		})
	}
}

// BenchmarkGetInOrder takes 100 000 IDs from 1 up, as naming the
// namespaces of a first scan does.
func BenchmarkGetInOrder(b *testing.B) {
	for b.Loop() {
		var a IDA
		for range 100000 {
			a.Get(1)
		}
	}
}
