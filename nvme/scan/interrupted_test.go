package scan_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scanmode"
)

// A scan cancelled, or whose connection drops, partway through a long
// list returns an error in every mode, leaves no goroutine behind
// (TestMain's goleak) and registers only whole namespaces; an ordered
// or sync scan registers a run of NSIDs in list order, named in that
// order.
func TestInterruptedScan(t *testing.T) {
	const n = 1500 // more than one page of the NSID list
	for _, mode := range []scanmode.Mode{scanmode.Ordered, scanmode.Async, scanmode.Sync} {
		for _, how := range []string{"cancel", "drop"} {
			t.Run(fmt.Sprint(mode, " ", how), func(t *testing.T) {
				tg, c := setup(t, target.Config{Namespaces: n})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				s := &scan.Scanner{Ctrl: c, Mode: mode}
				if how == "cancel" {
					s.Progress = func(done, _ int) {
						if done == 700 {
							cancel()
						}
					}
				} else {
					tg.SetFaults(target.Faults{DropAfter: 1300})
				}
				res, err := s.Scan(ctx)
				if err == nil {
					t.Fatal("interrupted scan returned no error")
				}
				if how == "cancel" && !errors.Is(err, context.Canceled) {
					t.Fatalf("cancelled scan: %v", err)
				}
				nss := s.Namespaces()
				if len(nss) == 0 || len(nss) >= n {
					t.Fatalf("%d namespaces registered of %d", len(nss), n)
				}
				for _, ns := range nss {
					if ns.Name == "" || ns.Size == 0 {
						t.Fatalf("half-registered namespace %+v", ns)
					}
				}
				if len(res.Added) != len(nss) {
					t.Errorf("%d added, %d registered", len(res.Added), len(nss))
				}
				if mode == scanmode.Async {
					return
				}
				slices.SortFunc(nss, func(a, b *scan.Namespace) int { return int(a.NSID) - int(b.NSID) })
				for i, ns := range nss {
					if ns.NSID != uint32(i+1) || ns.Name != fmt.Sprintf("nvme0n%d", i+1) {
						t.Fatalf("namespace %d of those registered: NSID %d named %s", i, ns.NSID, ns.Name)
					}
				}
			})
		}
	}
}
