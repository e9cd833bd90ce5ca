package fabric

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/complchain/complchain"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/trace"
)

// A Scanner connects to NVM subsystem ports, numbers their controllers
// and scans their namespaces, as the package doc says. Its fields are
// read by Scan and must not change while it runs.
type Scanner struct {
	// Host configures every connection; SubsystemNQN and ASQSZ are taken
	// from each port.
	Host host.Config
	// ConnectTimeout, if positive, bounds connecting to and bringing up
	// each controller.
	ConnectTimeout time.Duration
	// Mode schedules the controllers and, within each, the namespaces.
	Mode   scanmode.Mode
	Naming scan.Naming
	// ScanTimeout is each controller's scan.Scanner.Timeout.
	ScanTimeout time.Duration
	// Progress, if not nil, is called as namespaces are identified, with
	// the namespaces done and listed so far on every controller.
	Progress func(done, listed int)
	// Trace, if not nil, is every controller's scan.Scanner.Trace; its
	// tracks are named by NSID, so it is meant for one port.
	Trace *trace.Recorder
	// MaxControllers bounds the ports connected to (and so the
	// connections and controllers held); 0 or less means
	// DefaultMaxControllers.
	// The ports beyond it are reported with ErrTooManyControllers.
	MaxControllers int
}

// DefaultMaxControllers is the default of Scanner.MaxControllers.
const DefaultMaxControllers = 1024

// ErrTooManyControllers is the cause of a port beyond
// Scanner.MaxControllers.
var ErrTooManyControllers = errors.New("too many controllers: not connected")

// A Controller is a controller that came up, with its instance number and
// its namespace scan.
type Controller struct {
	Port     Port
	Instance int    // the n of nvme<n>
	Name     string // "nvme<n>"
	Ctrl     *host.Controller
	// Scanner scans the controller's namespaces and keeps them (Rescan,
	// Watch); Result and Err are what its first Scan returned.
	Scanner *scan.Scanner
	Result  *scan.Result
	Err     error
}

// Result is what Scan did.
type Result struct {
	// Controllers are the controllers that came up, by instance number.
	Controllers []*Controller
	// Failed are the ports that gave no controller, in port order, each a
	// *PortError.
	Failed  []error
	Elapsed time.Duration
}

// Close disconnects every controller of r.
func (r *Result) Close() {
	var wg sync.WaitGroup
	for _, c := range r.Controllers {
		wg.Go(func() { c.Ctrl.Close() })
	}
	wg.Wait()
}

// probe is one port's connection, an entry of the chain in Ordered mode.
type probe struct {
	complchain.Entry
	index int
	port  Port
	ctrl  *Controller   // once connected
	ready chan struct{} // closed once ctrl is numbered
}

// fabricScan is the state of one Scan.
type fabricScan struct {
	s      *Scanner
	ctx    context.Context
	host   host.Config
	mu     sync.Mutex // guards res
	res    *Result
	failed []*probeError
	scans  sync.WaitGroup
	done   atomic.Int64
	listed []atomic.Int64 // per port: the last count its scan reported
	total  atomic.Int64   // sum of listed
}

type probeError struct {
	index int
	err   error
}

// Scan connects to ports, gives each controller that comes up its
// instance number under s.Mode, and scans the namespaces of each, all
// controllers at once except in Sync mode. Every controller is connected
// with the same host identity: s.Host's, completed as host.Connect does
// (a zero HostID is the one in a UUID-form HostNQN, else one drawn once
// for the process). It returns when every scan has ended. The error is ctx's if it ended first; failures of single ports
// are in Result.Failed and failures of single scans in Controller.Err.
// The caller closes the controllers (Result.Close).
func (s *Scanner) Scan(ctx context.Context, ports []Port) (*Result, error) {
	start := time.Now()
	f := &fabricScan{s: s, ctx: ctx, host: s.Host, res: &Result{}, listed: make([]atomic.Int64, len(ports))}
	limit := s.MaxControllers
	if limit <= 0 {
		limit = DefaultMaxControllers
	}
	for i := limit; i < len(ports); i++ {
		p := ports[i]
		f.failed = append(f.failed, &probeError{i, &PortError{Addr: p.Addr, NQN: p.NQN, Err: ErrTooManyControllers}})
	}
	probes := make([]probe, min(len(ports), limit))
	for i := range probes {
		probes[i].index, probes[i].port = i, ports[i]
	}
	switch s.Mode {
	case scanmode.Sync:
		for i := range probes {
			if f.connect(&probes[i]) {
				f.name(&probes[i])
				f.scans.Wait()
			}
		}
	case scanmode.Async:
		var wg sync.WaitGroup
		for i := range probes {
			wg.Go(func() {
				if p := &probes[i]; f.connect(p) {
					f.name(p)
				}
			})
		}
		wg.Wait()
	default:
		var chain complchain.Chain
		for i := range probes {
			chain.Add(&probes[i].Entry)
		}
		var wg sync.WaitGroup
		for i := range probes {
			wg.Go(func() {
				p := &probes[i]
				if !f.connect(p) {
					p.Complete() // a failed port takes no number
					return
				}
				p.Then(func() { f.name(p) })
			})
		}
		wg.Wait()
	}
	f.scans.Wait()
	slices.SortFunc(f.failed, func(a, b *probeError) int { return cmp.Compare(a.index, b.index) })
	for _, pe := range f.failed {
		f.res.Failed = append(f.res.Failed, pe.err)
	}
	f.res.Elapsed = time.Since(start)
	return f.res, ctx.Err()
}

// connect connects to p's port and brings its controller up, and starts
// the scan of its namespaces, which are named once name has numbered the
// controller. It records the failure and returns false if it could not.
func (f *fabricScan) connect(p *probe) bool {
	ctx := f.ctx
	if d := f.s.ConnectTimeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	cfg := f.host
	cfg.SubsystemNQN, cfg.ASQSZ = p.port.NQN, p.port.ASQSZ
	hc, err := host.Connect(ctx, p.port.Addr, cfg)
	if err != nil {
		err = timeoutErr(ctx, err, f.s.ConnectTimeout)
		var ce *host.ConnectError
		if errors.As(err, &ce) {
			err = connectRefused{ce}
		}
		f.mu.Lock()
		f.failed = append(f.failed, &probeError{p.index, &PortError{Addr: p.port.Addr, NQN: p.port.NQN, Err: err}})
		f.mu.Unlock()
		return false
	}
	c := &Controller{Port: p.port, Ctrl: hc}
	p.ctrl, p.ready = c, make(chan struct{})
	c.Scanner = &scan.Scanner{Ctrl: hc, ControllerReady: p.ready, Mode: f.s.Mode, Naming: f.s.Naming, Timeout: f.s.ScanTimeout, Trace: f.s.Trace}
	if f.s.Progress != nil {
		listed := &f.listed[p.index]
		c.Scanner.Progress = func(_, l int) {
			f.progress(int64(l) - listed.Swap(int64(l)))
		}
	}
	f.scans.Go(func() { c.Result, c.Err = c.Scanner.Scan(f.ctx) })
	return true
}

// name gives p's controller the next instance number, which lets its
// namespaces be named.
func (f *fabricScan) name(p *probe) {
	f.mu.Lock()
	c, n := p.ctrl, len(f.res.Controllers)
	c.Instance, c.Name, c.Scanner.Controller = n, "nvme"+strconv.Itoa(n), n
	f.res.Controllers = append(f.res.Controllers, c)
	f.mu.Unlock()
	close(p.ready)
}

// progress reports the namespaces done and listed on every controller,
// one more done and delta more listed than before. It keeps a running
// total, not a sum over the ports, so that each namespace costs O(1)
// however many controllers there are.
func (f *fabricScan) progress(delta int64) {
	done := f.done.Add(1)
	f.s.Progress(int(done), int(f.total.Add(delta)))
}

// connectRefused is a Connect the controller refused, said without the
// NQN and the address its PortError gives.
type connectRefused struct{ *host.ConnectError }

func (e connectRefused) Error() string { return "connect: " + e.Reason() }
func (e connectRefused) Unwrap() error { return e.ConnectError }
