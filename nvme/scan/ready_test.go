package scan_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scanmode"
)

// While ControllerReady is open, every namespace is identified and none
// registered; once it is closed they are registered in list order (in
// Async mode as they were answered), named with the controller's number
// as it is then, in every mode.
func TestControllerReady(t *testing.T) {
	const n = 300 // more than half the admin queue: tasks must not wait for the registrations
	for _, mode := range []scanmode.Mode{scanmode.Ordered, scanmode.Async, scanmode.Sync} {
		t.Run(mode.String(), func(t *testing.T) {
			_, c := setup(t, target.Config{Namespaces: n, AdminQueueDepth: 64})
			ready := make(chan struct{})
			identified := make(chan struct{})
			var registered atomic.Int32
			s := &scan.Scanner{Ctrl: c, Mode: mode, ControllerReady: ready,
				Progress: func(done, listed int) {
					if done == n {
						close(identified)
					}
				},
				Registered: func(*scan.Namespace) { registered.Add(1) },
			}
			type result struct {
				res *scan.Result
				err error
			}
			scanned := make(chan result, 1)
			go func() {
				res, err := s.Scan(context.Background())
				scanned <- result{res, err}
			}()
			<-identified
			if got := registered.Load(); got != 0 {
				t.Fatalf("%d namespaces registered before ControllerReady was closed", got)
			}
			s.Controller = 3
			close(ready)
			r := <-scanned
			if r.err != nil || len(r.res.Added) != n {
				t.Fatalf("added %d, %v", len(r.res.Added), r.err)
			}
			for i, ns := range r.res.Added {
				// Async registers in the order answers come: only the
				// names follow the registration order for sure.
				if want := fmt.Sprintf("nvme3n%d", i+1); ns.Name != want || (mode != scanmode.Async && ns.NSID != uint32(i+1)) {
					t.Fatalf("registration %d: NSID %d named %s, want NSID %d named %s", i, ns.NSID, ns.Name, i+1, want)
				}
			}
		})
	}
}
