package control

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/complchain/complchain/nvme"
)

// TestChangesUnderIO attaches, detaches and resizes NSID 3 from several
// clients at once while a host reads and writes its last blocks: each
// request succeeds or is refused for the state it met (404, 409), each
// command succeeds or fails with Invalid Namespace or LBA Out of Range,
// and the list stays consistent.
func TestChangesUnderIO(t *testing.T) {
	const (
		big, small = 1 << 20, 1 << 19
		rounds     = 100
	)
	f := start(t)
	c := f.connect(t)
	ctx := context.Background()
	q := f.ioQueue(t, c.CNTLID())

	stop := make(chan struct{})
	errs := make(chan error, 8)
	var io sync.WaitGroup
	io.Add(1)
	go func() {
		defer io.Done()
		buf := make([]byte, 8*512)
		slba := uint64(big/512 - 8)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			op := nvme.OpRead
			if i%2 == 0 {
				op = nvme.OpWrite
			}
			cmd := &nvme.Command{Opcode: op, NSID: 3, CDW10: uint32(slba), CDW12: 7}
			_, err := q.Do(ctx, cmd, buf)
			var st nvme.Status
			if err != nil && (!errors.As(err, &st) ||
				st.Code() != nvme.StatusInvalidNamespace.Code() && st.Code() != nvme.StatusLBAOutOfRange.Code()) {
				errs <- err
				return
			}
		}
	}()

	// refused reports whether err is nil or a refusal for the state met.
	refused := func(err error, statuses ...int) bool {
		var e *Error
		if err == nil {
			return true
		}
		if !errors.As(err, &e) {
			return false
		}
		for _, s := range statuses {
			if e.Status == s {
				return true
			}
		}
		return false
	}
	var ctl sync.WaitGroup
	for _, change := range []func() error{
		func() error {
			_, err := f.c.Attach(ctx, subNQN, AttachRequest{NSID: 3, Size: big})
			if !refused(err, http.StatusConflict) {
				return err
			}
			return nil
		},
		func() error {
			if err := f.c.Detach(ctx, subNQN, 3); !refused(err, http.StatusNotFound) {
				return err
			}
			return nil
		},
		func() error {
			for _, size := range []uint64{small, big} {
				if _, err := f.c.Resize(ctx, subNQN, 3, size); !refused(err, http.StatusNotFound) {
					return err
				}
			}
			return nil
		},
	} {
		ctl.Add(1)
		go func() {
			defer ctl.Done()
			for range rounds {
				if err := change(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	ctl.Wait()
	close(stop)
	io.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	subs, err := f.c.Subsystems(ctx)
	if err != nil || len(subs) != 1 {
		t.Fatalf("list: %+v, %v", subs, err)
	}
	for _, ns := range subs[0].Namespaces {
		if ns.Size == 0 || ns.Size%uint64(ns.BlockSize) != 0 || ns.NSID == 3 && ns.Size != big && ns.Size != small {
			t.Errorf("namespace after the changes: %+v", ns)
		}
	}
}
