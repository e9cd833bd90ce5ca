package complchain

import "testing"

// A queue that never drains, one pushed for each popped, keeps its slice
// bounded by its depth, and pops in push order.
func TestPopFrontBounded(t *testing.T) {
	for _, depth := range []int{1, 10, 3000} {
		var q []*int
		var head int
		vals := make([]int, depth+100_000)
		for i := range vals {
			vals[i] = i
		}
		for i := range depth {
			q = append(q, &vals[i])
		}
		for i := depth; i < len(vals); i++ {
			q = append(q, &vals[i])
			if got := *popFront(&q, &head); got != i-depth {
				t.Fatalf("depth %d: popped %d, want %d", depth, got, i-depth)
			}
			if limit := 2*(depth+1) + 1024; len(q) > limit {
				t.Fatalf("depth %d: slice of %d after %d pops, want at most %d", depth, len(q), i-depth+1, limit)
			}
		}
	}
}
