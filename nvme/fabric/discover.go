package fabric

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
)

// DefaultMaxDiscoveryControllers is the default of
// DiscoverConfig.MaxDiscoveryControllers.
const DefaultMaxDiscoveryControllers = 32

// DiscoverConfig configures Discover. The zero value follows referrals
// with a random host identity and dials the advertised addresses.
type DiscoverConfig struct {
	// Host configures the connections to discovery controllers; its
	// SubsystemNQN and KATO are ignored (the discovery NQN, no
	// keep-alive).
	Host host.Config
	// Timeout, if positive, bounds connecting to each discovery controller
	// and reading its log.
	Timeout time.Duration
	// MaxDiscoveryControllers bounds the discovery controllers read, those
	// given and those referred to; 0 means
	// DefaultMaxDiscoveryControllers. Referrals beyond it are reported
	// with ErrTooManyLogs and not followed.
	MaxDiscoveryControllers int
	// AddrMap dials an advertised address (TRADDR:TRSVCID, as
	// net.JoinHostPort writes it) at another host:port: for ports behind
	// NAT or a port forward. It applies to referrals and NVM subsystem
	// entries.
	// Both sides are compared and dialled as canonicalAddr spells them.
	AddrMap map[string]string
	// UseDiscoveryAddr dials every NVM subsystem entry at the address of
	// the discovery controller whose log listed it, whatever it
	// advertises (after AddrMap, which it overrides). Entries of one log
	// that differ only in their address are then one port (and not
	// reported as duplicates). A Linux
	// target lists, on each port, the subsystems of that port only, so
	// reading the log of each of its ports reaches every port.
	UseDiscoveryAddr bool
}

// Discovery is what Discover found.
type Discovery struct {
	// Ports are the NVM subsystem ports, without duplicates, in the order
	// the package doc states.
	Ports []Port
	// Errors are *PortError values, in the same order: discovery
	// controllers that could not be read, unusable entries, duplicates,
	// referral loops.
	Errors []error
	// Logs is the number of discovery logs read.
	Logs int
}

// logRead is one discovery controller's log, read once.
type logRead struct {
	addr    string
	entries []nvme.DiscoveryEntry
	err     error
}

// walker reads discovery logs concurrently, each address once.
type walker struct {
	ctx  context.Context
	cfg  DiscoverConfig
	wg   sync.WaitGroup
	mu   sync.Mutex
	logs map[string]*logRead
}

// Discover reads the discovery logs of the discovery controllers at addrs
// (host:port) and of those they refer to, concurrently, and returns the
// NVM subsystem ports they list, as the package doc says. Addresses, given
// and advertised, are compared as canonicalAddr spells them, so that a
// discovery controller or a port reached under two spellings is read or
// listed once. It returns once
// every log has been read or has failed; what failed is in
// Discovery.Errors.
func Discover(ctx context.Context, addrs []string, cfg DiscoverConfig) *Discovery {
	if cfg.MaxDiscoveryControllers <= 0 {
		cfg.MaxDiscoveryControllers = DefaultMaxDiscoveryControllers
	}
	addrs = slices.Clone(addrs)
	for i, a := range addrs {
		addrs[i] = canonicalAddr(a)
	}
	if len(cfg.AddrMap) > 0 {
		m := make(map[string]string, len(cfg.AddrMap))
		for from, to := range cfg.AddrMap {
			m[canonicalAddr(from)] = canonicalAddr(to)
		}
		cfg.AddrMap = m
	}
	w := &walker{ctx: ctx, cfg: cfg, logs: map[string]*logRead{}}
	for _, a := range addrs {
		w.visit(a)
	}
	w.wg.Wait()
	d := &Discovery{Logs: len(w.logs)}
	f := flattener{w: w, d: d, onPath: map[string]bool{}, expanded: map[string]bool{}, seen: map[[2]string]string{}}
	for _, a := range addrs {
		if !f.expanded[a] {
			f.expand(a)
		}
	}
	return d
}

// visit starts reading the log at addr unless it was read or started
// already, or the limit is reached.
func (w *walker) visit(addr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.logs[addr]; ok {
		return
	}
	l := &logRead{addr: addr}
	w.logs[addr] = l
	if len(w.logs) > w.cfg.MaxDiscoveryControllers {
		l.err = fmt.Errorf("%w: at most %d are read", ErrTooManyLogs, w.cfg.MaxDiscoveryControllers)
		return
	}
	w.wg.Go(func() {
		l.entries, l.err = w.read(addr)
		for i := range l.entries {
			if e := &l.entries[i]; e.SubsystemType == nvme.SubtypeReferral {
				if a, err := w.dialAddr(e); err == nil {
					w.visit(a)
				}
			}
		}
	})
}

// read connects to the discovery controller at addr and reads its log.
func (w *walker) read(addr string) ([]nvme.DiscoveryEntry, error) {
	ctx := w.ctx
	if w.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.cfg.Timeout)
		defer cancel()
	}
	entries, err := host.Discover(ctx, addr, w.cfg.Host)
	return entries, timeoutErr(ctx, err, w.cfg.Timeout)
}

// dialAddr returns the address an entry is dialled at, after AddrMap.
func (w *walker) dialAddr(e *nvme.DiscoveryEntry) (string, error) {
	a, err := entryAddr(e)
	if err != nil {
		return "", err
	}
	if m, ok := w.cfg.AddrMap[a]; ok {
		return m, nil
	}
	return a, nil
}

// flattener lists the ports of the logs read, depth first, in log order.
type flattener struct {
	w        *walker
	d        *Discovery
	onPath   map[string]bool      // discovery controllers being expanded
	expanded map[string]bool      // discovery controllers expanded already
	seen     map[[2]string]string // SUBNQN and address of the ports listed: the address advertised
}

func (f *flattener) fail(addr, nqn string, err error) {
	f.d.Errors = append(f.d.Errors, &PortError{Addr: addr, NQN: nqn, Err: err})
}

func (f *flattener) expand(addr string) {
	f.expanded[addr], f.onPath[addr] = true, true
	defer delete(f.onPath, addr)
	l := f.w.logs[addr]
	if l == nil {
		return // never visited: not reachable from the addresses given
	}
	if l.err != nil {
		f.fail(addr, nvme.DiscoveryNQN, l.err)
		return
	}
	for i := range l.entries {
		e := &l.entries[i]
		switch e.SubsystemType {
		case nvme.SubtypeReferral:
			a, err := f.w.dialAddr(e)
			switch {
			case err != nil:
				f.fail(addr, e.SubsystemNQN, fmt.Errorf("referral %d: %w", i, err))
			case f.onPath[a]:
				f.fail(a, e.SubsystemNQN, fmt.Errorf("referral %d of %s: %w", i, addr, ErrReferralLoop))
			case !f.expanded[a]:
				f.expand(a)
			}
		case nvme.SubtypeNVM:
			a, err := f.w.dialAddr(e)
			if err == nil && (e.SubsystemNQN == "" || len(e.SubsystemNQN) > nvme.MaxNQNLen) {
				err = fmt.Errorf("%w: SUBNQN of %d bytes, want 1 to %d", ErrUnusable, len(e.SubsystemNQN), nvme.MaxNQNLen)
			}
			if err != nil {
				f.fail(addr, e.SubsystemNQN, fmt.Errorf("entry %d: %w", i, err))
				continue
			}
			p := Port{Addr: a, NQN: e.SubsystemNQN, ASQSZ: int(e.AdminQueueMax), From: addr}
			p.Advertised, _ = entryAddr(e)
			if f.w.cfg.UseDiscoveryAddr {
				p.Addr = addr
			}
			key := [2]string{p.NQN, p.Addr}
			if adv, ok := f.seen[key]; ok {
				// With UseDiscoveryAddr, the other ports of a subsystem
				// become the port dialled: expected, not reported.
				if !f.w.cfg.UseDiscoveryAddr || adv == p.Advertised {
					f.fail(p.Addr, p.NQN, fmt.Errorf("entry %d of %s: %w", i, addr, ErrDuplicate))
				}
				continue
			}
			f.seen[key] = p.Advertised
			f.d.Ports = append(f.d.Ports, p)
		case nvme.SubtypeCurrentDiscovery:
			// The subsystem this log was read from: nothing to connect to.
		default:
			f.fail(addr, e.SubsystemNQN, fmt.Errorf("entry %d: %w: subsystem type %d", i, ErrUnusable, e.SubsystemType))
		}
	}
}

// timeoutErr returns an error wrapping context.DeadlineExceeded, saying
// that the peer did not answer within d, if err comes from running out of
// ctx's time d (the context's, or the socket deadline set from it);
// otherwise err.
func timeoutErr(ctx context.Context, err error, d time.Duration) error {
	if err == nil || d <= 0 {
		return err
	}
	if ctx.Err() == context.DeadlineExceeded || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %v: %w", d, context.DeadlineExceeded)
	}
	return err
}
