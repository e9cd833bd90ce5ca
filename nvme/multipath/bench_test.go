package multipath

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkAttach1000x2 joins 1000 namespaces reported by two
// controllers into 1000 heads, one event per path, under each policy.
func BenchmarkAttach1000x2(b *testing.B) {
	ctx := context.Background()
	for _, naming := range []Naming{Index, NSID, Persistent} {
		b.Run(naming.String(), func(b *testing.B) {
			dir := b.TempDir()
			b.ReportAllocs()
			for b.Loop() {
				names, _ := OpenNames(filepath.Join(dir, "absent.json"))
				s, _ := New(Config{NQN: "nqn.b", Naming: naming, Names: names})
				for ctrl := range 2 {
					for nsid := uint32(1); nsid <= 1000; nsid++ {
						if _, err := s.Attach(ctx, path(ctrl, nsid, int(nsid))); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
		})
	}
}
