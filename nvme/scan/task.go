package scan

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/complchain/complchain"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/scanmode"
)

// task is one NSID's work: identify, then register (or remove stale
// namespaces when nsid is 0).
type task struct {
	complchain.Entry
	nsid  uint32
	stale []uint32               // registered NSIDs to remove at this point of the list
	known bool                   // registered when the scan started: revalidate it
	ids   *host.NamespaceIDsCall // the identify commands, sent with the list (not in Sync mode)
	sent  time.Time              // when they were sent
	state atomic.Uint32          // taskHanded, taskAnswered, taskQueued (not in Sync mode)
}

// identity is what the identify commands of one namespace return.
type identity struct {
	id  *nvme.IdentifyNamespace
	ids nvme.NSIdentifiers
}

// identify waits for the CNS 03h and CNS 00h commands the list sent for
// t, or in Sync mode sends them one after the other. The identifiers are
// those Linux keeps (kernelIDs): the descriptor list's, and Identify
// Namespace's where the list lacks them.
func (r *run) identify(t *task) (identity, error) {
	var (
		out identity
		err error
	)
	if t.ids != nil {
		out.id, out.ids, err = t.ids.Wait(r.ctx)
	} else {
		r.commands.Add(CommandsPerNamespace)
		if out.ids, err = r.s.Ctrl.IdentifyNSDescriptors(r.ctx, t.nsid); err == nil {
			out.id, err = r.s.Ctrl.IdentifyNamespace(r.ctx, t.nsid)
		}
	}
	if err != nil {
		return out, err
	}
	out.ids = kernelIDs(r.s.Ctrl.Version(), out.ids, out.id)
	return out, nil
}

// NVMe versions, as the VS property holds them.
const (
	vs11 = 0x00010100
	vs12 = 0x00010200
	vs13 = 0x00010300
)

// kernelIDs returns the identifiers Linux keeps for a namespace of a
// controller of version vs (nvme_identify_ns_descs,
// nvme_ns_info_from_identify): those of the descriptor list from version
// 1.3 on, then a zero EUI64 taken from Identify Namespace from version 1.1
// on and a zero NGUID from version 1.2 on.
func kernelIDs(vs uint32, desc nvme.NSIdentifiers, id *nvme.IdentifyNamespace) nvme.NSIdentifiers {
	if vs < vs13 {
		desc = nvme.NSIdentifiers{}
	}
	if vs >= vs11 && desc.EUI64 == ([8]byte{}) {
		desc.EUI64 = id.EUI64
	}
	if vs >= vs12 && desc.NGUID == ([16]byte{}) {
		desc.NGUID = id.NGUID
	}
	return desc
}

// runTask runs one task: on the completer in Async and Ordered mode, on
// the goroutine that reads the list in Sync mode.
func (r *run) runTask(t *task) {
	defer t.Complete() // a task that fails never stalls its successors
	s := r.s
	if t.nsid == 0 {
		r.inOrder(t, func() { s.remove(r, t.stale) })
		return
	}
	defer r.progress()
	var track string
	if s.Trace != nil {
		track = fmt.Sprintf("nsid %d", t.nsid)
	}
	start := t.sent
	if start.IsZero() {
		start = time.Now()
	}
	if old := t.registered(s); old != nil {
		t.Complete() // known: release the chain at once, as the kernel does
		idt, err := r.identify(t)
		s.Trace.Span(track, "revalidate", start, time.Now())
		r.revalidate(old, idt, err)
		return
	}
	idt, err := r.identify(t)
	identified := time.Now()
	s.Trace.Span(track, "identify", start, identified)
	if err != nil {
		var st nvme.Status // escapes to errors.As: allocated only for an error
		if r.probing && errors.As(err, &st) && st.Code() == nvme.StatusInvalidNamespace {
			return // an inactive NSID, as a probe expects
		}
		r.fail(t.nsid, err)
		return
	}
	if idt.id.NCAP == 0 {
		return // inactive (sequential probe) or not allocated
	}
	if err := idt.id.Validate(); err != nil {
		r.fail(t.nsid, err) // registering it would report nonsense
		return
	}
	ns := r.newNamespace(t.nsid, idt)
	r.inOrder(t, func() {
		regStart := time.Now()
		if s.Mode != scanmode.Async {
			s.Trace.Span(track, "wait for chain", identified, regStart)
		}
		r.registerInOrder(ns)
		if s.Trace != nil {
			s.Trace.Span(track, "register "+ns.Name, regStart, time.Now())
		}
	})
}

// inOrder runs f, the critical section of t: at once in Async mode,
// otherwise once every task before t is done. The task does not wait for
// its turn: whichever task completes t's last predecessor runs f, so
// tasks that finish in order register back to back with no goroutine
// woken. f is skipped if the scan is cancelled first.
func (r *run) inOrder(t *task, f func()) {
	if r.s.Mode == scanmode.Async {
		f()
		return
	}
	t.Then(func() {
		if r.ctx.Err() == nil {
			f()
		}
	})
}

// revalidate updates a known namespace from a fresh identify, or removes
// it if the controller says it is gone, its identifiers changed or its
// data is no longer usable.
func (r *run) revalidate(old *Namespace, idt identity, err error) {
	if err == nil && idt.id.NCAP != 0 {
		if verr := idt.id.Validate(); verr != nil {
			r.fail(old.NSID, verr)
			r.s.remove(r, []uint32{old.NSID})
			return
		}
	}
	var st nvme.Status
	switch {
	case errors.As(err, &st) && st.DNR():
		r.fail(old.NSID, err)
		r.s.remove(r, []uint32{old.NSID})
	case err != nil:
		r.fail(old.NSID, err) // keep it: the link, not the namespace, failed
	case idt.id.NCAP == 0 || idt.ids.NGUID != old.NGUID || idt.ids.EUI64 != old.EUI64 || idt.ids.UUID != old.UUID:
		r.fail(old.NSID, errors.New("identifiers changed or namespace not usable; removed"))
		r.s.remove(r, []uint32{old.NSID})
	default:
		r.s.mu.Lock()
		old.Size, old.Capacity, old.Used, old.BlockSize = idt.id.NSZE, idt.id.NCAP, idt.id.NUSE, idt.id.BlockSize()
		r.s.mu.Unlock()
		r.mu.Lock()
		r.res.Revalidated++
		r.mu.Unlock()
	}
}

func (r *run) newNamespace(nsid uint32, idt identity) *Namespace {
	ns := &Namespace{
		NSID: nsid, Size: idt.id.NSZE, Capacity: idt.id.NCAP, Used: idt.id.NUSE,
		BlockSize: idt.id.BlockSize(), NGUID: idt.ids.NGUID, EUI64: idt.ids.EUI64, UUID: idt.ids.UUID,
		Shared: idt.id.NMIC&1 != 0, ANAGRPID: idt.id.ANAGRPID,
	}
	if i := idt.id.FormatIndex(); i <= idt.id.NLBAF && int(i) < len(idt.id.LBAF) {
		ns.MetadataSize = idt.id.LBAF[i].MetadataSize
	}
	b := r.names()
	ns.WWID = b.wwid(nsid, &idt.ids)
	ns.Aliases = b.links(nsid, ns.WWID)
	return ns
}
