// Package ida allocates small integer IDs, always the smallest free one,
// like the Linux kernel's ida: the allocator that numbers nvme0n1,
// nvme0n2, … so that names follow the order in which they were taken.
package ida

import (
	"math/bits"
	"sync"
)

// An IDA hands out non-negative integer IDs. The zero IDA is empty and
// ready to use; it is safe for concurrent use.
type IDA struct {
	mu    sync.Mutex
	words []uint64 // bit i of word w set: ID 64*w+i is taken
	// Every ID in [lo, hi) is taken: a Get whose min falls in that run
	// starts looking at hi, so n Gets in a row cost O(n), not O(n²/64).
	lo, hi int
}

// Get returns the smallest free ID that is at least min (0 if min is
// negative), and marks it taken. Memory grows with the largest ID taken:
// one bit per ID.
func (a *IDA) Get(min int) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	min = max(min, 0)
	start := min
	if a.lo <= min && min <= a.hi {
		start = a.hi
	}
	if need := start/64 + 1; len(a.words) < need {
		a.words = append(a.words, make([]uint64, need-len(a.words))...)
	}
	mask := func(w int) uint64 { // free IDs of word w at or above start
		free := ^a.words[w]
		if w == start/64 {
			free &^= (1 << (start % 64)) - 1
		}
		return free
	}
	w := start / 64
	for w < len(a.words) && mask(w) == 0 {
		w++
	}
	if w == len(a.words) {
		a.words = append(a.words, 0)
	}
	free := mask(w)
	id := w*64 + bits.TrailingZeros64(free)
	a.words[w] |= 1 << (id % 64)
	if start == a.hi && a.lo <= min { // the run grows: [hi, id) was taken
		a.hi = id + 1
	} else { // a new run: every ID in [min, id) is taken
		a.lo, a.hi = min, id+1
	}
	return id
}

// Put frees id. Freeing an ID that is not taken does nothing.
func (a *IDA) Put(id int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if id < 0 || id/64 >= len(a.words) {
		return
	}
	a.words[id/64] &^= 1 << (id % 64)
	if a.lo <= id && id < a.hi {
		a.hi = id
	}
}

// Len returns the number of IDs taken.
func (a *IDA) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, w := range a.words {
		n += bits.OnesCount64(w)
	}
	return n
}
