package peers

import (
	"fmt"
	"testing"
)

func TestResultsInOrder(t *testing.T) {
	for _, impl := range Impls {
		for _, n := range []int{1, 1000} {
			got := impl.Run(n, 4)
			if len(got) != n {
				t.Fatalf("%s: %d results, want %d", impl.Name, len(got), n)
			}
			for i, r := range got {
				if r != work(i) {
					t.Fatalf("%s: result %d is %d, want %d", impl.Name, i, r, work(i))
				}
			}
		}
	}
}

// BenchmarkOrdered runs each implementation on 1 000 and 100 000 tiny
// tasks; ns/task is the time per task.
func BenchmarkOrdered(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		for _, impl := range Impls {
			b.Run(fmt.Sprintf("n=%d/%s", n, impl.Name), func(b *testing.B) {
				limit := Limit()
				for b.Loop() {
					if got := impl.Run(n, limit); len(got) != n {
						b.Fatalf("%d results", len(got))
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/task")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
