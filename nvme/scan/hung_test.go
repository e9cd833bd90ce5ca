package scan_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scanmode"
)

// Namespaces that never answer hold their command identifiers past
// their timeout (a CID is reserved until the controller answers): the
// scan still identifies every other namespace, none failing for want of
// a command identifier, in every mode that sends commands ahead.
func TestHungNamespacesHoldIdentifiers(t *testing.T) {
	for _, tc := range []struct {
		mode scanmode.Mode
		hung []uint32
	}{
		{scanmode.Async, []uint32{1, 2, 3}},
		{scanmode.Ordered, []uint32{1, 2, 3}},
		{scanmode.Ordered, []uint32{2, 5, 9, 17, 20}},
	} {
		t.Run(fmt.Sprint(tc.mode, tc.hung), func(t *testing.T) {
			hang := map[uint32]bool{}
			for _, id := range tc.hung {
				hang[id] = true
			}
			_, c := setupHost(t, target.Config{Namespaces: 96, Faults: target.Faults{Hang: hang}}, host.Config{CommandTimeout: 300 * time.Millisecond, AdminQueueDepth: 32})
			s := &scan.Scanner{Ctrl: c, Mode: tc.mode}
			// The second scan starts with the identifiers of the
			// first's hung commands still reserved.
			for range 2 {
				res, err := s.Scan(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				check(t, res, s, tc.hung)
			}
		})
	}
}

// check checks that a scan failed exactly the hung namespaces, timed
// out, and registered the others.
func check(t *testing.T, res *scan.Result, s *scan.Scanner, hung []uint32) {
	t.Helper()
	var failed []uint32
	for _, f := range res.Failed {
		failed = append(failed, f.NSID)
		if !errors.Is(f, host.ErrTimeout) {
			t.Errorf("NSID %d: %v, want a timeout", f.NSID, f)
		}
	}
	if fmt.Sprint(failed) != fmt.Sprint(hung) {
		t.Errorf("failed %v (%v), want %v", failed, res.Failed, hung)
	}
	if got, want := len(s.Namespaces()), 96-len(hung); got != want {
		t.Errorf("%d namespaces registered, want %d", got, want)
	}
}
