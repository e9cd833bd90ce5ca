package target

import (
	"slices"
	"testing"

	"github.com/complchain/complchain/nvme"
)

// Dataset Management ranges are deallocated each block once, whatever
// their order and overlaps: 256 ranges over the whole namespace zero it
// once, not 256 times, on a backend that writes zeros.
func TestCoalesce(t *testing.T) {
	whole := make([]nvme.DSMRange, 256)
	for i := range whole {
		whole[i] = nvme.DSMRange{SLBA: 0, Length: 1 << 20}
	}
	for _, tt := range []struct {
		name   string
		ranges []nvme.DSMRange
		want   []blockSpan
	}{
		{"none", []nvme.DSMRange{{SLBA: 5, Length: 0}}, nil},
		{"one", []nvme.DSMRange{{SLBA: 5, Length: 3}}, []blockSpan{{5, 8}}},
		{"apart, out of order", []nvme.DSMRange{{SLBA: 10, Length: 2}, {SLBA: 0, Length: 2}}, []blockSpan{{0, 2}, {10, 12}}},
		{"adjacent", []nvme.DSMRange{{SLBA: 0, Length: 2}, {SLBA: 2, Length: 2}}, []blockSpan{{0, 4}}},
		{"inside", []nvme.DSMRange{{SLBA: 0, Length: 10}, {SLBA: 3, Length: 2}}, []blockSpan{{0, 10}}},
		{"overlapping", []nvme.DSMRange{{SLBA: 4, Length: 6}, {SLBA: 0, Length: 5}, {SLBA: 20, Length: 0}}, []blockSpan{{0, 10}}},
		{"256 times the whole", whole, []blockSpan{{0, 1 << 20}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := coalesce(tt.ranges); !slices.Equal(got, tt.want) {
				t.Fatalf("coalesce = %v, want %v", got, tt.want)
			}
		})
	}
}
