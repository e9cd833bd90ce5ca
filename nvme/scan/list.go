package scan

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/scanmode"
)

// list walks the NSID list and hands a task per NSID, in list order, to
// run (the completer, or in Sync mode the task itself); stale namespaces
// become removal tasks at their place.
func (r *run) list(ctx context.Context, run func(*task) error) error {
	s := r.s
	known := s.knownNSIDs() // ascending
	k := 0
	staleBelow := func(limit uint64) []uint32 {
		var stale []uint32
		for ; k < len(known) && uint64(known[k]) < limit; k++ {
			stale = append(stale, known[k])
		}
		return stale
	}
	// Tasks whose commands are sent wait in held, in list order, until
	// flush adds them to the chain and hands them over: a page's commands
	// go on the wire back to back. Tasks with commands out, held or
	// handed over, are fewer than maxHeld (waitRoom), so their commands
	// fit the queue; if others' commands, or commands that timed out and
	// keep their identifiers, leave too few free, what is held is handed
	// over first: a Start waits only for identifiers that commands of
	// tasks handed over, or of others, free.
	var held []*task
	maxHeld := max(1, s.Ctrl.QueueDepth()/CommandsPerNamespace)
	send := func(t *task) error {
		s.chain.Add(&t.Entry)
		return run(t)
	}
	flush := func() error {
		var err error
		for _, t := range held {
			if e := send(t); err == nil {
				err = e
			}
		}
		clear(held)
		held = held[:0]
		return err
	}
	emit := func(nsid uint32) error {
		if r.c != nil {
			// Before anything of this NSID is held: flush hands over
			// only tasks whose commands are out.
			r.c.waitRoom(int64(maxHeld), func() { flush() })
			if len(held) > 0 && s.Ctrl.FreeCommands() < CommandsPerNamespace {
				// The commands would wait for identifiers that only
				// tasks handed over free: those of commands that timed
				// out stay reserved, and others share the queue.
				flush()
			}
		}
		if err := ctx.Err(); err != nil {
			return err // send nothing more
		}
		r.listed.Add(1)
		if stale := staleBelow(uint64(nsid)); len(stale) > 0 {
			held = append(held, &task{stale: stale})
		}
		t := &task{nsid: nsid}
		if k < len(known) && known[k] == nsid {
			k++
			t.known = true
		}
		held = append(held, t)
		if s.Mode == scanmode.Sync {
			return flush()
		}
		// Send the commands now, in list order and from one goroutine;
		// the completer runs the task once they are answered.
		r.c.out.Add(1)
		r.commands.Add(CommandsPerNamespace)
		t.sent = time.Now()
		t.ids = s.Ctrl.StartNamespaceIDsFunc(ctx, nsid, func() { r.c.answered(t) })
		if len(held) >= maxHeld {
			return flush()
		}
		return nil
	}
	nn := r.nn()
	var after uint32
	for {
		r.commands.Add(1)
		t0 := time.Now()
		ids, err := s.Ctrl.ActiveNamespaces(ctx, after)
		s.Trace.Span("list", fmt.Sprintf("CNS 02h after %d", after), t0, time.Now())
		var st nvme.Status
		if errors.As(err, &st) && after == 0 && (st.DNR() || st.Code() == nvme.StatusInvalidField) {
			return r.sequential(ctx, emit, flush, staleBelow, send)
		}
		if err != nil {
			return fmt.Errorf("scan of %s: %w", s.Ctrl.Addr(), err)
		}
		for _, id := range ids {
			if id > nn {
				// The list is increasing: every later NSID is invalid
				// too, and no page after this one can hold a valid one.
				r.fail(id, invalidNSID(id, nn))
				ids = nil
				break
			}
			if err := emit(id); err != nil {
				flush() // ctx is done: frees what is held
				return err
			}
		}
		if err := flush(); err != nil {
			return err
		}
		if len(ids) < nvme.NSIDsPerList || ids[len(ids)-1] >= nn {
			break
		}
		after = ids[len(ids)-1]
	}
	if stale := staleBelow(1 << 32); len(stale) > 0 {
		return send(&task{stale: stale})
	}
	return nil
}

// sequential probes NSIDs 1..NN, for controllers without the NSID list.
func (r *run) sequential(ctx context.Context, emit func(uint32) error, flush func() error, staleBelow func(uint64) []uint32, send func(*task) error) error {
	r.probing = true // set before the first probe task starts
	nn := r.nn()
	for nsid := uint32(1); nsid <= nn; nsid++ {
		if err := emit(nsid); err != nil {
			flush() // ctx is done: frees what is held
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if stale := staleBelow(1 << 32); len(stale) > 0 {
		return send(&task{stale: stale})
	}
	return nil
}

// MaxNSID is the largest NSID a namespace can have: NSID FFFFFFFFh is the
// broadcast value (NVMe Base Specification, "Namespace ID").
const MaxNSID = nvme.NSIDAll - 1

// nn returns the largest valid NSID of the controller: Identify
// Controller NN, at most MaxNSID.
func (r *run) nn() uint32 { return min(r.s.Ctrl.IdentifyController().NN, MaxNSID) }

// invalidNSID is the error of an NSID of the list above nn.
func invalidNSID(nsid, nn uint32) error {
	reason := fmt.Sprintf("above NN %d; the rest of the list is ignored", nn)
	if nsid == nvme.NSIDAll {
		reason = "the broadcast NSID; the rest of the list is ignored"
	}
	return &nvme.FieldError{Structure: "active namespace list", Field: "NSID", Value: uint64(nsid), Reason: reason}
}
