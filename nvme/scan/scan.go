package scan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/complchain/complchain"
	"github.com/complchain/complchain/internal/ida"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/trace"
)

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
	// Shared is Identify Namespace NMIC bit 0: the namespace may be
	// attached to several controllers. ANAGRPID is its ANA group, 0
	// without ANA reporting. nvme/multipath joins paths with them.
	Shared   bool
	ANAGRPID uint32
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
	Registered func(ns *Namespace)    // optional; called in registration order
	// Timeout, if positive, bounds each Scan as a whole (each command is
	// bounded by the controller's command timeout): a scan still running
	// then is cancelled and returns an error wrapping
	// context.DeadlineExceeded, with what it did so far.
	Timeout time.Duration
	// ControllerReady, if not nil, holds every registration until it is
	// closed; Controller is read only then. A caller can so start the
	// scan before it has numbered the controller (package fabric does):
	// namespaces are identified meanwhile, and named once it is closed.
	ControllerReady <-chan struct{}

	scanMu    sync.Mutex
	mu        sync.Mutex
	ns        map[uint32]*Namespace
	instances ida.IDA
	chain     complchain.Chain
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

	c *completer // runs the tasks in Async and Ordered mode

	// Registrations wait, in order, in regPending until ControllerReady
	// is closed; then registerWhenReady registers them, sets regOpen and
	// closes regDone. Tasks never wait for it.
	regMu      sync.Mutex
	regOpen    bool
	regPending []*Namespace
	regDone    chan struct{}
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
	if s.ControllerReady != nil {
		r.regDone = make(chan struct{})
		go r.registerWhenReady()
	}
	var err error
	if s.Mode == scanmode.Sync {
		// One task at a time, on this goroutine, as the list is read.
		err = r.list(ctx, func(t *task) error { r.runTask(t); return nil })
	} else {
		r.c = newCompleter(r)
		err = r.list(ctx, r.c.hand)
		r.c.close()
	}
	if r.regDone != nil {
		<-r.regDone
	}
	r.res.Elapsed = time.Since(start)
	r.res.Commands = r.commands.Load()
	r.res.Listed = int(r.listed.Load())
	slices.SortFunc(r.res.Failed, func(a, b *NSError) int { return cmp.Compare(a.NSID, b.NSID) })
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
