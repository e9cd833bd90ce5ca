package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

var pages = sync.Pool{New: func() any { return new([nvme.IdentifySize]byte) }}

// identify runs Identify cns for nsid and decodes the result with parse.
func (c *Controller) identify(ctx context.Context, cns nvme.CNS, nsid uint32, parse func([]byte) error) error {
	buf := pages.Get().(*[nvme.IdentifySize]byte)
	defer pages.Put(buf)
	cmd := nvme.IdentifyCommand(cns, nsid)
	if _, err := c.do(ctx, &cmd, buf[:]); err != nil {
		return err
	}
	return parse(buf[:])
}

// IdentifyNamespace reads the Identify Namespace data (CNS 00h) of nsid.
func (c *Controller) IdentifyNamespace(ctx context.Context, nsid uint32) (*nvme.IdentifyNamespace, error) {
	ns := new(nvme.IdentifyNamespace)
	if err := c.identify(ctx, nvme.CNSNamespace, nsid, ns.UnmarshalBinary); err != nil {
		return nil, fmt.Errorf("identify namespace %d: %w", nsid, err)
	}
	return ns, nil
}

// IdentifyNSDescriptors reads the Namespace Identification Descriptor list
// (CNS 03h) of nsid. A controller without the list (before NVMe 1.3 it
// answers Invalid Field, or Invalid Opcode) yields an empty list and no
// error, as Linux treats it.
func (c *Controller) IdentifyNSDescriptors(ctx context.Context, nsid uint32) (nvme.NSIdentifiers, error) {
	var ids nvme.NSIdentifiers
	err := c.identify(ctx, nvme.CNSNSDescriptors, nsid, ids.UnmarshalBinary)
	return ids, descriptorsErr(nsid, err)
}

// descriptorsErr is the error of Identify CNS 03h for nsid, or nil if the
// controller just does not support the list.
func descriptorsErr(nsid uint32, err error) error {
	if err == nil {
		return nil
	}
	var st nvme.Status // escapes to errors.As: allocated only for an error
	if errors.As(err, &st) && (st.Code() == nvme.StatusInvalidField || st.Code() == nvme.StatusInvalidOpcode) {
		return nil
	}
	return fmt.Errorf("identify namespace %d descriptors: %w", nsid, err)
}

// IdentifyNamespaceIDs sends Identify Namespace (CNS 00h) and the
// Namespace Identification Descriptor list (CNS 03h) of nsid at once, so
// that both take one round trip, and returns what each read. The list is
// empty, with no error, if the controller does not support it.
func (c *Controller) IdentifyNamespaceIDs(ctx context.Context, nsid uint32) (*nvme.IdentifyNamespace, nvme.NSIdentifiers, error) {
	return c.StartNamespaceIDs(ctx, nsid).Wait(ctx)
}

// A NamespaceIDsCall is an IdentifyNamespaceIDs in flight.
type NamespaceIDsCall struct {
	c            *Controller
	nsid         uint32
	dbuf, nbuf   *[nvme.IdentifySize]byte
	dcall, ncall tcp.Call
	pending      atomic.Int32 // commands StartNamespaceIDsFunc waits for
	done         func()
	id           nvme.IdentifyNamespace // what Wait returns: no allocation of its own
}

// StartNamespaceIDs sends the commands of IdentifyNamespaceIDs and
// returns without waiting for them, so that a scan can put the commands of
// many namespaces on the wire from one goroutine, in list order. Wait
// returns what IdentifyNamespaceIDs returns; every call must be waited
// for, once, as it holds two command identifiers until then.
func (c *Controller) StartNamespaceIDs(ctx context.Context, nsid uint32) *NamespaceIDsCall {
	p := &NamespaceIDsCall{c: c, nsid: nsid, dbuf: pages.Get().(*[nvme.IdentifySize]byte), nbuf: pages.Get().(*[nvme.IdentifySize]byte)}
	dcmd, ncmd := nvme.IdentifyCommand(nvme.CNSNSDescriptors, nsid), nvme.IdentifyCommand(nvme.CNSNamespace, nsid)
	p.dcall = c.q.Start(ctx, &dcmd, p.dbuf[:])
	p.ncall = c.q.Start(ctx, &ncmd, p.nbuf[:])
	return p
}

// StartNamespaceIDsFunc is StartNamespaceIDs, and calls done once both
// commands are answered, so that Wait returns without blocking. done is
// called once, from the queue's goroutines (or from this call, for a
// command that could not be sent), and must not block; it may never be
// called if the controller stops first (Done is closed): Wait then
// returns why, and done is not called for a command Wait gave up on.
// A panic in done is not recovered, as for tcp.HostQueue.StartFunc.
func (c *Controller) StartNamespaceIDsFunc(ctx context.Context, nsid uint32, done func()) *NamespaceIDsCall {
	p := &NamespaceIDsCall{c: c, nsid: nsid, dbuf: pages.Get().(*[nvme.IdentifySize]byte), nbuf: pages.Get().(*[nvme.IdentifySize]byte), done: done}
	p.pending.Store(2)
	dcmd, ncmd := nvme.IdentifyCommand(nvme.CNSNSDescriptors, nsid), nvme.IdentifyCommand(nvme.CNSNamespace, nsid)
	answered := p.answered // one closure for both
	p.dcall = c.q.StartFunc(ctx, &dcmd, p.dbuf[:], answered)
	p.ncall = c.q.StartFunc(ctx, &ncmd, p.nbuf[:], answered)
	return p
}

// answered counts an answered command and calls done after the second.
func (p *NamespaceIDsCall) answered() {
	if p.pending.Add(-1) == 0 {
		p.done()
	}
}

// Wait waits for both commands and decodes what they read. The Identify
// Namespace data it returns lives in p. A second Wait returns an error.
func (p *NamespaceIDsCall) Wait(ctx context.Context) (*nvme.IdentifyNamespace, nvme.NSIdentifiers, error) {
	if p.dbuf == nil {
		return nil, nvme.NSIdentifiers{}, fmt.Errorf("identify namespace %d: waited for twice", p.nsid)
	}
	defer func() {
		pages.Put(p.dbuf)
		pages.Put(p.nbuf)
		p.dbuf, p.nbuf = nil, nil // the pages are others' now
	}()
	c, nsid := p.c, p.nsid
	var ids nvme.NSIdentifiers
	// The command sent last first: a controller answers in order, so the
	// other one is then in, and the caller parks once, not twice.
	_, nerr := p.ncall.Wait(ctx)
	_, derr := p.dcall.Wait(ctx)
	if derr = c.timeoutErr(nvme.OpIdentify, derr); derr == nil {
		derr = ids.UnmarshalBinary(p.dbuf[:])
	}
	if nerr = c.timeoutErr(nvme.OpIdentify, nerr); nerr != nil {
		return nil, ids, fmt.Errorf("identify namespace %d: %w", nsid, nerr)
	}
	if err := descriptorsErr(nsid, derr); err != nil {
		return nil, ids, err
	}
	ns := &p.id
	if err := ns.UnmarshalBinary(p.nbuf[:]); err != nil {
		return nil, ids, fmt.Errorf("identify namespace %d: %w", nsid, err)
	}
	return ns, ids, nil
}

// ActiveNamespaces reads one page of the active namespace list (CNS 02h):
// up to 1024 active NSIDs greater than after, in increasing order. A page
// shorter than nvme.NSIDsPerList is the last one.
func (c *Controller) ActiveNamespaces(ctx context.Context, after uint32) ([]uint32, error) {
	var ids []uint32
	err := c.identify(ctx, nvme.CNSActiveNamespaces, after, func(b []byte) error {
		ids = nvme.ParseNSIDList(make([]uint32, 0, 64), b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("identify active namespaces after %d: %w", after, err)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			return nil, fmt.Errorf("identify active namespaces after %d: list not increasing at entry %d (%d after %d)", after, i, ids[i], ids[i-1])
		}
	}
	if len(ids) > 0 && ids[0] <= after {
		return nil, fmt.Errorf("identify active namespaces after %d: list starts at %d", after, ids[0])
	}
	return ids, nil
}

// ChangedNamespaces reads and so clears the Changed Namespace List log
// (04h). A list of one NSID, nvme.NSIDAll, means more than 1024 changed.
func (c *Controller) ChangedNamespaces(ctx context.Context) ([]uint32, error) {
	buf := pages.Get().(*[nvme.IdentifySize]byte)
	defer pages.Put(buf)
	cmd := nvme.GetLogPageCommand(nvme.LogChangedNamespace, nvme.NSIDAll, nvme.IdentifySize, 0)
	if _, err := c.do(ctx, &cmd, buf[:]); err != nil {
		return nil, fmt.Errorf("read changed namespace list: %w", err)
	}
	return nvme.ParseNSIDList(nil, buf[:]), nil
}
