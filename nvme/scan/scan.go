// Package scan discovers the namespaces of an NVMe controller concurrently
// and registers them in a deterministic order: the Go form of the Linux
// NVMe host's asynchronous namespace scan, ordered by a completion chain.
//
// # Modes
//
// Scanner.Mode is one of package scanmode's:
//
//   - Sync: one namespace at a time, its commands one after another, as
//     the sequential scan of older kernels.
//   - Async: every namespace at once, registered in the order their
//     identification finishes: names depend on timing (today's Linux).
//   - Ordered: every namespace at once, registered under a
//     complchain.Chain in list order, so nvme0n1 is always the first NSID of
//     the list, nvme0n2 the second, and so on.
//
// # Commands per namespace
//
// Linux (nvme_scan_ns) sends k = 3 admin commands per new NVM namespace,
// one after another: Identify CNS 03h (identification descriptors), CNS 00h
// (Identify Namespace), and CNS 00h again from nvme_update_ns_info. The
// second CNS 00h carries nothing new, and the first two do not depend on
// each other. In Async and Ordered modes this package sends CNS 03h and
// CNS 00h at the same time: k = 2 and one round trip per namespace, so a
// scan of N namespaces with admin queue depth Q takes about
// RTT × (1 + ceil(N·k/Q)), the bound Bound returns. Sync mode sends them one
// after another (k = 2, two round trips per namespace).
//
// The NSID list comes from Identify CNS 02h, 1024 NSIDs a page; the tasks
// of a page start as soon as the page arrives. A controller that does not
// support the list (a status with DNR) is scanned NSID by NSID, 1 to NN.
//
// In Async and Ordered modes the goroutine that reads the list sends each
// namespace's two commands as it goes, in list order, and hands the
// namespace to a worker that waits for the answers: all the commands of a
// page are on the wire within microseconds of the page's arrival.
// Concurrency is bounded by the admin queue: commands beyond its depth
// wait for a free command identifier.
//
// # Registration, failures, removal
//
// A task that has identified a new namespace hands its registration to
// the chain (complchain.Entry.Then) and returns: the registration runs as
// soon as every earlier task is done, in the goroutine that finished
// last, so namespaces that are identified in list order register back to
// back and no goroutine waits for its turn.
//
// A namespace already registered is revalidated; its chain entry is
// completed before its commands are sent, so it never delays the others. A
// task that fails completes its entry on return (the kernel's "task failed
// early" path): the scan reports the failure and registers the rest.
// Registered namespaces missing from the list are removed in list order,
// through the chain too, and their instance numbers freed, so with Naming
// Index the smallest free instance goes to the next new namespace and
// names stay dense and in list order.
//
// # Untrusted data
//
// Nothing a controller reports is taken on trust. NSIDs above Identify
// Controller NN (or NSID FFFFFFFFh, the broadcast value) cannot name a
// namespace: the first such entry of the list is reported as the failure
// of its NSID (a *nvme.FieldError for field "NSID") and ends the list,
// since the list is increasing. The walk is bounded by NN: at most
// NN/1024+1 list pages, or NN probes without the list, NN being at most
// MaxNSID. Identify Namespace data that fails nvme.IdentifyNamespace
// Validate (an LBA format beyond NLBAF, an LBA data size outside 512 bytes
// to 64 KiB, NCAP above NSZE, a size that overflows 64 bits, …) is the
// failure of that namespace, which is not registered (or is removed, if
// it was), while the rest of the scan goes on. Scanner.Timeout (or ctx)
// bounds a scan as a whole, the controller's command timeout each command.
//
// # Persistent names
//
// The kernel gives each namespace block device a wwid attribute
// (drivers/nvme/host/sysfs.c, wwid_show) holding one identifier, the first
// of these that is not zero:
//
//	uuid.<UUID, 8-4-4-4-12 lower-case hex>
//	eui.<NGUID, 32 hex digits>
//	eui.<EUI64, 16 hex digits>
//	nvme.<VID, 4 hex digits>-<serial hex>-<model hex>-<NSID, 8 hex digits>
//
// the last with trailing spaces and NULs cut from the serial and model
// number, each byte as two hex digits. The identifiers are those of the
// Namespace Identification Descriptor list (CNS 03h, read from
// controllers of version 1.3 and later), where a zero NGUID or EUI64 is
// taken from Identify Namespace (version 1.2 and 1.1 and later).
//
// systemd's udev rules (rules.d/60-persistent-storage.rules, as of
// systemd v257) then make these /dev/disk/by-id links for a namespace
// block device, from the wwid, the controller's model and serial
// attributes and the nsid attribute (the NSID printed as a signed 32-bit
// number, "%d"):
//
//	nvme-<wwid>                  always
//	nvme-<model>_<serial>        NSID 1 only, model and serial without '/', not escaped
//	nvme-<model>_<serial>        NSID 1 only, escaped
//	nvme-<model>_<serial>_<nsid> escaped
//
// Model and serial are the sysfs values (up to the first NUL) with
// trailing white space removed and characters outside udev's safe set
// replaced, byte for byte as udev's $attr substitution,
// string_escape=replace and SYMLINK handling do (ByID). The
// model_serial links need both a model and a serial that are not empty.
// Not modelled: the kernel's per-device quirks that ignore identifiers
// (bogus NIDs, no descriptor list), and the -part<n> links of partitions.
package scan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/complchain/complchain"
	"github.com/complchain/complchain/internal/ida"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/trace"
)

// Naming is how namespaces are named.
type Naming int

// Naming policies.
const (
	// Index names a namespace nvme<ctrl>n<instance>, the instance being the
	// smallest free number: dense names in registration order.
	Index Naming = iota
	// NSID names it nvme<ctrl>n<NSID>: stable across changes, but sparse.
	NSID
)

var namingNames = []string{Index: "index", NSID: "nsid"}

func (n Naming) String() string {
	if int(n) < len(namingNames) {
		return namingNames[n]
	}
	return fmt.Sprintf("Naming(%d)", int(n))
}

// ParseNaming returns the Naming named s: "index" or "nsid".
func ParseNaming(s string) (Naming, error) {
	if i := slices.Index(namingNames, s); i >= 0 {
		return Naming(i), nil
	}
	return 0, fmt.Errorf("unknown naming %q (want index or nsid)", s)
}

// CommandsPerNamespace is k, the number of admin commands the scan sends
// for a new namespace.
const CommandsPerNamespace = 2

// Bound returns the least time a scan of n namespaces can take with
// round-trip time rtt and admin queue depth q in Async or Ordered mode:
// one round trip for the list, then ceil(n·k/q) round trips of identify.
func Bound(rtt time.Duration, n, q int) time.Duration {
	if q < 1 {
		q = 1
	}
	return rtt * time.Duration(1+(n*CommandsPerNamespace+q-1)/q)
}

// Namespace is a registered namespace.
type Namespace struct {
	NSID      uint32
	Instance  int    // the n in nvme0n<n> under Naming Index
	Name      string // e.g. "nvme0n1"
	Generic   string // the character device, e.g. "ng0n1"
	Size      uint64 // NSZE, in logical blocks
	Capacity  uint64 // NCAP
	Used      uint64 // NUSE
	BlockSize uint32 // bytes
	// MetadataSize is the bytes of metadata per block of the format in
	// use (LBAF MS).
	MetadataSize uint16
	NGUID        [16]byte
	EUI64        [8]byte
	UUID         [16]byte
	// WWID is the kernel's wwid attribute of the block device, and
	// Aliases its /dev/disk/by-id names as systemd's udev rules make them
	// (see WWID and ByID).
	WWID    string
	Aliases []string
}

// NSError is the failure of one namespace's task.
type NSError struct {
	NSID uint32
	Err  error
}

func (e *NSError) Error() string { return fmt.Sprintf("namespace %d: %v", e.NSID, e.Err) }
func (e *NSError) Unwrap() error { return e.Err }

// Result reports what a scan did.
type Result struct {
	Listed      int          // NSIDs the controller listed (or probed, without a list)
	Added       []*Namespace // newly registered, in registration order
	Removed     []*Namespace // no longer listed, or gone
	Revalidated int          // already registered and still there
	Failed      []*NSError   // tasks that failed, by NSID
	Commands    int64        // admin commands sent
	Elapsed     time.Duration
}

// A Scanner scans one controller and keeps its registered namespaces
// between scans. Scans are serialised: a Scan started while another runs
// waits for it.
type Scanner struct {
	Ctrl       *host.Controller
	Controller int // the number in nvme<ctrl>n…
	Mode       scanmode.Mode
	Naming     Naming
	Trace      *trace.Recorder        // optional
	Progress   func(done, listed int) // optional; called as tasks finish
	Workers    int                    // tasks run at once; 0 means the admin queue depth
	Registered func(ns *Namespace)    // optional; called in registration order
	// Timeout, if positive, bounds each Scan as a whole (each command is
	// bounded by the controller's command timeout): a scan still running
	// then is cancelled and returns an error wrapping
	// context.DeadlineExceeded, with what it did so far.
	Timeout time.Duration

	scanMu    sync.Mutex
	mu        sync.Mutex
	ns        map[uint32]*Namespace
	instances ida.IDA
	chain     complchain.Chain
}

// Namespaces returns the registered namespaces ordered by NSID.
func (s *Scanner) Namespaces() []*Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Namespace, 0, len(s.ns))
	for _, ns := range s.ns {
		out = append(out, ns)
	}
	slices.SortFunc(out, func(a, b *Namespace) int { return int(a.NSID) - int(b.NSID) })
	return out
}

// task is one NSID's work: identify, then register (or remove stale
// namespaces when nsid is 0).
type task struct {
	complchain.Entry
	nsid  uint32
	stale []uint32               // registered NSIDs to remove at this point of the list
	known bool                   // registered when the scan started: revalidate it
	ids   *host.NamespaceIDsCall // the identify commands, sent with the list (not in Sync mode)
	sent  time.Time              // when they were sent
}

// run holds the state of one scan.
type run struct {
	s        *Scanner
	ctx      context.Context
	res      *Result
	mu       sync.Mutex // guards res
	commands atomic.Int64
	done     atomic.Int64
	listed   atomic.Int64
	probing  bool // NSIDs 1..NN are probed: inactive ones are no failure

	byIDOnce sync.Once
	byID     *byID // see names
}

// Scan lists the controller's namespaces, identifies them and registers
// the new ones, revalidates the known ones and removes those gone. It
// returns an error only if the scan could not run to its end (the list
// could not be read, the connection was lost, ctx was cancelled); failures
// of single namespaces are in Result.Failed.
func (s *Scanner) Scan(ctx context.Context) (*Result, error) {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	s.mu.Lock()
	if s.ns == nil {
		s.ns = map[uint32]*Namespace{}
	}
	s.mu.Unlock()
	start := time.Now()
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	r := &run{s: s, ctx: ctx, res: &Result{}}
	workers := s.Workers
	if workers <= 0 {
		workers = s.Ctrl.QueueDepth()
	}
	if s.Mode == scanmode.Sync {
		workers = 1
	}
	// Workers start as tasks arrive, up to the limit; each takes tasks in
	// list order, so a task waiting on the chain only ever waits for tasks
	// that workers already hold.
	tasks := make(chan *task)
	var wg sync.WaitGroup
	started := 0
	dispatch := func(t *task) error {
		select {
		case tasks <- t:
			return nil
		default:
		}
		if started < workers {
			started++
			wg.Go(func() {
				r.runTask(t)
				for t := range tasks {
					r.runTask(t)
				}
			})
			return nil
		}
		select {
		case tasks <- t:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := r.list(ctx, dispatch)
	close(tasks)
	wg.Wait()
	r.res.Elapsed = time.Since(start)
	r.res.Commands = r.commands.Load()
	r.res.Listed = int(r.listed.Load())
	slices.SortFunc(r.res.Failed, func(a, b *NSError) int { return int(a.NSID) - int(b.NSID) })
	if err == nil {
		err = ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) && s.Timeout > 0 && time.Since(start) >= s.Timeout {
		err = fmt.Errorf("scan of %s not finished within %v: %w", s.Ctrl.Addr(), s.Timeout, err)
	}
	if err == nil && s.Ctrl.Err() != nil {
		err = fmt.Errorf("scan of %s: %w", s.Ctrl.Addr(), s.Ctrl.Err())
	}
	return r.res, err
}

// list walks the NSID list and hands a task per NSID, in list order, to
// the workers; stale namespaces become removal tasks at their place.
func (r *run) list(ctx context.Context, dispatch func(*task) error) error {
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
	send := func(t *task) error {
		s.chain.Add(&t.Entry)
		if err := dispatch(t); err != nil {
			if t.ids != nil {
				t.ids.Wait(ctx) // ctx is done: frees the identifiers at once
			}
			t.Complete()
			return err
		}
		return nil
	}
	emit := func(nsid uint32) error {
		if err := ctx.Err(); err != nil {
			return err // send nothing more
		}
		r.listed.Add(1)
		if stale := staleBelow(uint64(nsid)); len(stale) > 0 {
			if err := send(&task{stale: stale}); err != nil {
				return err
			}
		}
		t := &task{nsid: nsid}
		if k < len(known) && known[k] == nsid {
			k++
			t.known = true
		}
		if s.Mode != scanmode.Sync {
			// Send the commands now, in list order and from one
			// goroutine: they are on the wire long before a worker
			// could send them.
			r.commands.Add(CommandsPerNamespace)
			t.sent = time.Now()
			t.ids = s.Ctrl.StartNamespaceIDs(ctx, nsid)
		}
		return send(t)
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
			return r.sequential(ctx, emit, staleBelow, send)
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
				return err
			}
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
func (r *run) sequential(ctx context.Context, emit func(uint32) error, staleBelow func(uint64) []uint32, send func(*task) error) error {
	r.probing = true // set before the first probe task starts
	nn := r.nn()
	for nsid := uint32(1); nsid <= nn; nsid++ {
		if err := emit(nsid); err != nil {
			return err
		}
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

func (s *Scanner) knownNSIDs() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]uint32, 0, len(s.ns))
	for id := range s.ns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (r *run) fail(nsid uint32, err error) {
	r.mu.Lock()
	r.res.Failed = append(r.res.Failed, &NSError{NSID: nsid, Err: err})
	r.mu.Unlock()
}

func (r *run) progress() {
	n := r.done.Add(1)
	if p := r.s.Progress; p != nil {
		p(int(n), int(r.listed.Load()))
	}
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

// runTask runs one task on a worker.
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
	var st nvme.Status
	if r.probing && errors.As(err, &st) && st.Code() == nvme.StatusInvalidNamespace {
		return // an inactive NSID, as a probe expects
	}
	if err != nil {
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
		s.register(r, ns)
		s.Trace.Span(track, "register "+ns.Name, regStart, time.Now())
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

// registered returns the namespace of t registered before the scan, or
// nil for a new one: the list knows which NSIDs were registered, so a new
// namespace costs no lookup under s.mu.
func (t *task) registered(s *Scanner) *Namespace {
	if !t.known {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ns[t.nsid]
}

func (r *run) newNamespace(nsid uint32, idt identity) *Namespace {
	ns := &Namespace{
		NSID: nsid, Size: idt.id.NSZE, Capacity: idt.id.NCAP, Used: idt.id.NUSE,
		BlockSize: idt.id.BlockSize(), NGUID: idt.ids.NGUID, EUI64: idt.ids.EUI64, UUID: idt.ids.UUID,
	}
	if i := idt.id.FormatIndex(); i <= idt.id.NLBAF && int(i) < len(idt.id.LBAF) {
		ns.MetadataSize = idt.id.LBAF[i].MetadataSize
	}
	b := r.names()
	ns.WWID = b.wwid(nsid, &idt.ids)
	ns.Aliases = b.links(nsid, &idt.ids)
	return ns
}

// names returns what the by-id names of the controller's namespaces
// share, worked out once a scan.
func (r *run) names() *byID {
	r.byIDOnce.Do(func() { r.byID = newByID(r.s.Ctrl.IdentifyController()) })
	return r.byID
}

// register names ns and adds it to the registered namespaces.
func (s *Scanner) register(r *run, ns *Namespace) {
	s.mu.Lock()
	ns.Instance = s.instances.Get(1)
	suffix := ns.Instance
	if s.Naming == NSID {
		suffix = int(ns.NSID)
	}
	ctrl, n := strconv.Itoa(s.Controller), strconv.Itoa(suffix)
	ns.Name = "nvme" + ctrl + "n" + n
	ns.Generic = "ng" + ctrl + "n" + n
	s.ns[ns.NSID] = ns
	s.mu.Unlock()
	r.mu.Lock()
	r.res.Added = append(r.res.Added, ns)
	r.mu.Unlock()
	if s.Registered != nil {
		s.Registered(ns)
	}
}

// remove unregisters nsids and frees their instances.
func (s *Scanner) remove(r *run, nsids []uint32) {
	var gone []*Namespace
	s.mu.Lock()
	for _, id := range nsids {
		if ns := s.ns[id]; ns != nil {
			delete(s.ns, id)
			s.instances.Put(ns.Instance)
			gone = append(gone, ns)
		}
	}
	s.mu.Unlock()
	r.mu.Lock()
	r.res.Removed = append(r.res.Removed, gone...)
	r.mu.Unlock()
}

// Watch rescans each time the controller reports that namespaces changed
// (the "namespace attribute changed" asynchronous event): it reads the
// Changed Namespace List log, which re-arms the event, then scans, and
// passes the result to report. It returns when ctx is done or the
// controller stops.
func (s *Scanner) Watch(ctx context.Context, report func(*Result, error)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-s.Ctrl.Events():
			if !ok {
				if err := s.Ctrl.Err(); err != nil {
					return err
				}
				return errors.New("controller stopped")
			}
			if !ev.NamespaceChanged() {
				continue
			}
			if _, err := s.Ctrl.ChangedNamespaces(ctx); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				report(nil, err)
				continue
			}
			res, err := s.Scan(ctx)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			report(res, err)
		}
	}
}
