package multipath

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// linuxHeads keeps heads as Linux's nvme_ns_remove and nvme_alloc_ns do,
// with NSID names: a head is found or made under the subsystem lock, and
// the last path's removal takes the head off the list under the lock but
// deletes its disk after dropping it.
type linuxHeads struct {
	mu    sync.Mutex
	heads map[uint32]map[int]bool
	hooks Hooks
}

func (l *linuxHeads) attach(ctx context.Context, ctrl int, nsid uint32) {
	l.mu.Lock()
	h, ok := l.heads[nsid]
	if !ok {
		h = map[int]bool{}
		l.heads[nsid] = h
	}
	h[ctrl] = true
	l.mu.Unlock()
	if !ok {
		l.hooks.AddDisk(ctx, fmt.Sprintf("nvme0n%d", nsid))
	}
}

func (l *linuxHeads) detach(ctx context.Context, ctrl int, nsid uint32) {
	l.mu.Lock()
	h := l.heads[nsid]
	delete(h, ctrl)
	last := h != nil && len(h) == 0
	if last {
		delete(l.heads, nsid)
	}
	l.mu.Unlock()
	if last {
		l.hooks.DelDisk(ctx, fmt.Sprintf("nvme0n%d", nsid))
	}
}

// The interleavings TestInterleavings runs find the race in Linux's
// order: an attach that comes while the old head's disk is being deleted
// adds a disk of the same name. So the test can fail, and the chain is
// what makes it pass.
func TestLinuxOrderRaces(t *testing.T) {
	sc := scenarios[0]
	faults, runs := 0, 0
	for _, order := range interleavings(sc.steps) {
		for _, delays := range delayPatterns(len(order)) {
			runs++
			synctest.Test(t, func(t *testing.T) {
				d := &disks{names: map[string]bool{}}
				l := &linuxHeads{heads: map[uint32]map[int]bool{}, hooks: d.hooks()}
				ctx := context.Background()
				for _, p := range sc.initial {
					l.attach(ctx, p.Controller, p.NSID)
				}
				var wg sync.WaitGroup
				for i, e := range order {
					wg.Go(func() {
						time.Sleep(delays[i])
						if e.kind == 'A' {
							l.attach(ctx, e.ctrl, e.nsid)
						} else {
							l.detach(ctx, e.ctrl, e.nsid)
						}
					})
				}
				wg.Wait()
				if len(d.faults) > 0 {
					faults++
				}
			})
		}
	}
	if faults == 0 {
		t.Fatalf("no fault in %d runs of Linux's order", runs)
	}
	t.Logf("%d of %d runs of Linux's order add a disk whose name is present", faults, runs)
}
