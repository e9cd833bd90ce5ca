package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/complchain/complchain/nvme/fabric"
	"github.com/complchain/complchain/nvme/target"
)

// maxEmbeddedControllers is the most embedded subsystems --controllers
// starts.
const maxEmbeddedControllers = 256

// maxReported is the most failures of one kind (discovery, ports) scan
// prints one line each; the others are counted on one more line.
const maxReported = 16

// report prints errs to w, one line each with prefix, at most maxReported
// of them, then how many more there were.
func report(w io.Writer, prefix string, errs []error) {
	for i, err := range errs {
		if i == maxReported {
			fmt.Fprintf(w, "%s: %d more, not shown\n", prefix, len(errs)-i)
			return
		}
		fmt.Fprintf(w, "%s: %s\n", prefix, printable(err.Error()))
	}
}

// registerFabric adds scan's flags that choose several ports.
func (f *scanFlags) registerFabric(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.discover, "discover", nil, "discovery controller to read, host:port (nvme-cli's default port is 8009); repeat for several")
	fl.StringArrayVar(&f.mapAddr, "map-addr", nil, "ADVERTISED=DIAL: dial a host:port a discovery log advertises at another host:port (NAT, port forwards); repeat for several")
	fl.BoolVar(&f.useDiscoveryAddr, "use-discovery-addr", false, "dial every port a discovery log lists at the address the log was read from")
	fl.IntVar(&f.maxControllers, "max-controllers", fabric.DefaultMaxControllers, "most ports connected to; those beyond are reported and left out")
	fl.IntVar(&f.controllers, "controllers", 1, fmt.Sprintf("embedded subsystems to start and scan when no port is given (at most %d)", maxEmbeddedControllers))
	f.given = fl.Changed
}

// conflicts returns an error naming a flag given that the others make
// meaningless, rather than ignoring it: the embedded targets' flags with
// a port, --nqn without --addr, the discovery flags without --discover.
func (f *scanFlags) conflicts() error {
	switch {
	case len(f.nqns) > 0 && len(f.addrs) == 0:
		return errors.New("--nqn names the subsystem of an --addr: give --addr too (--discover finds subsystems itself)")
	case !f.embedded():
		for _, name := range []string{"controllers", "namespaces", "rtt"} {
			if f.given(name) {
				return fmt.Errorf("--%s sets up the embedded targets, which --addr and --discover replace", name)
			}
		}
	}
	if len(f.discover) == 0 {
		for _, name := range []string{"map-addr", "use-discovery-addr"} {
			if f.given(name) {
				return fmt.Errorf("--%s applies to the ports discovery logs list: give --discover too", name)
			}
		}
	}
	return nil
}

// embedded reports whether scan starts embedded targets.
func (f *scanFlags) embedded() bool { return len(f.addrs) == 0 && len(f.discover) == 0 }

// ports returns the ports to scan: the embedded targets', or those the
// discovery controllers list (discovery errors are printed to stderr, one
// line each), then those given with --addr and --nqn, each port once (the
// repeats are printed to stderr too). stop closes the embedded targets.
func (f *scanFlags) ports(ctx context.Context, stderr io.Writer) ([]fabric.Port, func(), error) {
	if err := f.check(); err != nil {
		return nil, nil, err
	}
	if err := f.conflicts(); err != nil {
		return nil, nil, err
	}
	if f.maxControllers < 1 {
		return nil, nil, fmt.Errorf("--max-controllers %d: want at least 1", f.maxControllers)
	}
	if f.embedded() {
		return f.embeddedPorts(ctx)
	}
	var direct, listed []string // --addr without --nqn: its log's subsystems, dialled there
	var ports []fabric.Port
	switch {
	case len(f.nqns) == 0:
		listed = f.addrs
	case len(f.nqns) == 1 || len(f.nqns) == len(f.addrs):
		direct = f.addrs
	default:
		return nil, nil, fmt.Errorf("%d --nqn for %d --addr: give none, one for all, or one each", len(f.nqns), len(f.addrs))
	}
	for _, a := range append(f.discover, f.addrs...) {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, nil, fmt.Errorf("address %q: want host:port", a)
		}
	}
	cfg := fabric.DiscoverConfig{Host: f.hostConfig(), Timeout: f.timeout, UseDiscoveryAddr: f.useDiscoveryAddr, AddrMap: map[string]string{}}
	for _, m := range f.mapAddr {
		from, to, ok := strings.Cut(m, "=")
		_, _, errFrom := net.SplitHostPort(from)
		_, _, errTo := net.SplitHostPort(to)
		if !ok || errFrom != nil || errTo != nil {
			return nil, nil, fmt.Errorf("--map-addr %q: want ADVERTISED=DIAL, each host:port", m)
		}
		cfg.AddrMap[from] = to
	}
	read := func(addrs []string, cfg fabric.DiscoverConfig) {
		if len(addrs) == 0 {
			return
		}
		d := fabric.Discover(ctx, addrs, cfg)
		report(stderr, "discovery", d.Errors)
		ports = append(ports, d.Ports...)
	}
	read(f.discover, cfg)
	cfg.UseDiscoveryAddr = true // as nvme connect -a: the address given is the one dialled
	read(listed, cfg)
	for i, a := range direct {
		ports = append(ports, fabric.Port{Addr: a, NQN: f.nqns[min(i, len(f.nqns)-1)]})
	}
	ports, dups := fabric.Dedup(ports)
	report(stderr, "skipped", dups)
	if len(ports) == 0 {
		return nil, nil, errors.New("no NVM subsystem port to scan")
	}
	return ports, func() {}, nil
}

// embeddedPorts starts --controllers embedded targets: the first serves
// target.DefaultNQN, the others DefaultNQN followed by their number.
func (f *scanFlags) embeddedPorts(ctx context.Context) ([]fabric.Port, func(), error) {
	if f.controllers < 1 || f.controllers > maxEmbeddedControllers {
		return nil, nil, fmt.Errorf("--controllers %d: want 1 to %d", f.controllers, maxEmbeddedControllers)
	}
	var tgs []*target.Target
	stop := func() {
		for _, tg := range tgs {
			tg.Close()
		}
	}
	var ports []fabric.Port
	for i := range f.controllers {
		nqn := target.DefaultNQN
		if i > 0 {
			nqn = fmt.Sprintf("%s%d", nqn, i)
		}
		tg, addr, err := f.startTarget(ctx, nqn)
		if err != nil {
			stop()
			return nil, nil, err
		}
		tgs = append(tgs, tg)
		ports = append(ports, fabric.Port{Addr: addr, NQN: nqn})
	}
	return ports, stop, nil
}

// advertisedFailed reports whether a port of failed came from a discovery
// log and was dialled at the address the log advertises, no flag
// redirecting it.
func (f *scanFlags) advertisedFailed(ports []fabric.Port, failed []error) bool {
	if f.useDiscoveryAddr || len(f.mapAddr) > 0 {
		return false
	}
	for _, err := range failed {
		var pe *fabric.PortError
		if !errors.As(err, &pe) {
			continue
		}
		for _, p := range ports {
			if p.From != "" && p.Addr == p.Advertised && p.Addr == pe.Addr && p.NQN == pe.NQN {
				return true
			}
		}
	}
	return false
}
