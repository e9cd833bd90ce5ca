package scsi

import (
	"context"
	"slices"
	"sync"
	"testing"
)

// uaHost plays LIO's first session: READ CAPACITY(16) of every LUN but 0
// first ends in UNIT ATTENTION 3Fh/0Eh (REPORTED LUNS DATA HAS CHANGED),
// and REPORT LUNS lists one more LUN once a unit attention was given.
type uaHost struct {
	Host
	mu     sync.Mutex
	given  map[uint16]bool
	report [][]uint16 // REPORT LUNS lists, one a call; the last repeats
	calls  int
}

func (h *uaHost) Command(ctx context.Context, a Addr, cdb []byte) (Response, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case cdb[0] == OpReportLUNs:
		list := h.report[min(h.calls, len(h.report)-1)]
		h.calls++
		return Response{Data: AppendReportLUNs(nil, list)}, nil
	case cdb[0] == OpServiceIn16 && a.LUN != 0 && !h.given[a.LUN]:
		h.given[a.LUN] = true
		return checkCondition(SenseError{Key: senseUnitAttention, ASC: 0x3f, ASCQ: 0x0e}), nil
	}
	return h.Host.Command(ctx, a, cdb)
}

// A unit attention is retried as Linux retries it, and REPORTED LUNS DATA
// HAS CHANGED makes the scan ask REPORT LUNS again and add the LUNs it
// did not know, in the order listed, each once.
func TestUnitAttentionRescan(t *testing.T) {
	tests := []struct {
		name   string
		report [][]uint16
		want   []uint16
		calls  int
	}{
		{"same list", [][]uint16{{0, 1, 2}}, []uint16{0, 1, 2}, 2},
		{"LUN added, listed first as LIO does", [][]uint16{{0, 1, 2}, {3, 0, 1, 2}}, []uint16{0, 1, 2, 3}, 3},
		{"LUN 0 only: no unit attention", [][]uint16{{0}}, []uint16{0}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &uaHost{Host: Host{LUNs: 4}, given: map[uint16]bool{}, report: tt.report}
			s := &Scanner{}
			s.AddHost(t.Context(), h)
			if err := s.WaitScans(t.Context()); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if errs := s.Errors(); len(errs) > 0 {
				t.Fatal(errs)
			}
			var got []uint16
			for _, d := range s.Devices() {
				got = append(got, d.Addr.LUN)
			}
			if !slices.Equal(got, tt.want) || h.calls != tt.calls {
				t.Fatalf("LUNs %v after %d REPORT LUNS, want %v after %d", got, h.calls, tt.want, tt.calls)
			}
		})
	}
}
