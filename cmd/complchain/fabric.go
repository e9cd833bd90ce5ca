package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/target"
)

// fabricFlags are the target command's flags for subsystems, ports,
// referrals and allowed hosts.
type fabricFlags struct {
	nqn           string
	subsystems    int
	listen        []string
	allowHosts    []string
	allowSubsys   []string // I=NQN
	referrals     []string
	connectDelay  []string
	identifyDelay []string
	portDelay     []string // I=DURATION
	portDelays    map[uint32]time.Duration
	anaFlags      []string
	ana           map[uint16]map[uint32]nvme.ANAState // by PORTID, from --ana
}

func (fab *fabricFlags) flags(f *pflag.FlagSet) {
	f.StringVar(&fab.nqn, "nqn", target.DefaultNQN, "subsystem NQN; with --subsystems N above 1, the base of <nqn>:sub1 … <nqn>:subN")
	f.IntVar(&fab.subsystems, "subsystems", 1, fmt.Sprintf("number of NVM subsystems (1..%d)", target.MaxSubsystems))
	f.StringArrayVar(&fab.listen, "listen", []string{"127.0.0.1:4420"},
		"address to listen on (host:port); repeat for several ports, PORTIDs 1, 2, … in this order")
	f.StringArrayVar(&fab.allowHosts, "allow-host", nil, "host NQN allowed to connect to every subsystem (repeatable); none: any host")
	f.StringArrayVar(&fab.allowSubsys, "allow-host-subsys", nil, "I=NQN: host NQN allowed to connect to subsystem I (1-based; repeatable)")
	f.StringArrayVar(&fab.referrals, "referral", nil, "IP:port of another discovery controller, listed as a referral (repeatable)")
	f.StringSliceVar(&fab.connectDelay, "delay-subsys", nil, "I=DURATION: extra time for each Connect to subsystem I (1-based), e.g. 1=40ms,2=10ms")
	f.StringSliceVar(&fab.identifyDelay, "identify-delay-subsys", nil, "I=DURATION: extra service time for each Identify on subsystem I's controllers")
	f.StringSliceVar(&fab.portDelay, "delay-port", nil, "I=DURATION: extra time for each Connect that creates a controller through port I (1-based, --listen order)")
	f.StringArrayVar(&fab.anaFlags, "ana", nil, "PORTID[:GRPID]=STATE: initial ANA state of group GRPID (default 1) through port PORTID "+
		"(optimized, non-optimized, inaccessible, persistent-loss, change; repeatable); others are optimized")
}

// subsystemNQN returns the NQN of subsystem i (1-based) of n.
func (fab *fabricFlags) subsystemNQN(i int) string {
	if fab.subsystems == 1 {
		return fab.nqn
	}
	return fab.nqn + ":sub" + strconv.Itoa(i)
}

// configure turns cfg's single-subsystem fields and the fabric flags
// into cfg.Subsystems and cfg.Referrals.
func (fab *fabricFlags) configure(cfg *target.Config) error {
	n := fab.subsystems
	if n < 1 || n > target.MaxSubsystems {
		return fmt.Errorf("--subsystems %d: want 1..%d", n, target.MaxSubsystems)
	}
	if len(fab.listen) == 0 {
		return fmt.Errorf("--listen: give at least one address")
	}
	var err error
	if fab.portDelays, err = parseKeyMap(fab.portDelay, "PORT", time.ParseDuration); err != nil {
		return fmt.Errorf("--delay-port: %w", err)
	}
	ana, err := parseANAStates(fab.anaFlags, len(fab.listen))
	if err != nil {
		return fmt.Errorf("--ana: %w", err)
	}
	fab.ana = ana
	connect, err := parseKeyMap(fab.connectDelay, "SUBSYSTEM", time.ParseDuration)
	if err != nil {
		return fmt.Errorf("--delay-subsys: %w", err)
	}
	identify, err := parseKeyMap(fab.identifyDelay, "SUBSYSTEM", time.ParseDuration)
	if err != nil {
		return fmt.Errorf("--identify-delay-subsys: %w", err)
	}
	for _, m := range []struct {
		flag string
		m    map[uint32]time.Duration
		n    int
	}{{"--delay-subsys", connect, n}, {"--identify-delay-subsys", identify, n}, {"--delay-port", fab.portDelays, len(fab.listen)}} {
		for i, d := range m.m {
			if int64(i) > int64(m.n) || d < 0 {
				return fmt.Errorf("%s %d=%v: want a number in 1..%d and a duration not negative", m.flag, i, d, m.n)
			}
		}
	}
	perSubsys := make(map[int][]string)
	for _, p := range fab.allowSubsys {
		k, nqn, _ := strings.Cut(p, "=")
		i, err := strconv.Atoi(k)
		if err != nil || i < 1 || i > n || nqn == "" {
			return fmt.Errorf("--allow-host-subsys %q: want I=NQN, I a subsystem in 1..%d", p, n)
		}
		perSubsys[i] = append(perSubsys[i], nqn)
	}
	for i := 1; i <= n; i++ {
		cfg.Subsystems = append(cfg.Subsystems, target.SubsystemConfig{
			NQN:           fab.subsystemNQN(i),
			NamespaceSize: cfg.NamespaceSize,
			BlockSize:     cfg.BlockSize,
			MaxNSID:       uint32(max(cfg.Namespaces, 1024)),
			AllowedHosts:  append(slices.Clone(fab.allowHosts), perSubsys[i]...),
			ConnectDelay:  connect[uint32(i)],
			IdentifyDelay: identify[uint32(i)],
		})
	}
	cfg.NQN, cfg.Namespaces, cfg.NamespaceSize, cfg.BlockSize, cfg.MaxNSID = "", 0, 0, 0, 0
	for _, r := range fab.referrals {
		cfg.Referrals = append(cfg.Referrals, target.Referral{Addr: r})
	}
	return nil
}

// listeners opens the listeners of --listen.
func (fab *fabricFlags) listeners(ctx context.Context) ([]net.Listener, error) {
	var lc net.ListenConfig
	var lns []net.Listener
	for _, a := range fab.listen {
		ln, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("cannot listen on %s: %w (choose another address with --listen)", a, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// banner prints what is served and the nvme-cli lines that reach it.
func (fab *fabricFlags) banner(w io.Writer, t *target.Target, lns []net.Listener, namespaces int, rtt time.Duration) {
	subs := t.Subsystems()
	for _, s := range subs {
		hosts, anyHost := s.AllowedHosts()
		who := "any host"
		if !anyHost {
			who = fmt.Sprintf("hosts %q", hosts)
		}
		fmt.Fprintf(w, "serving %s (%d namespaces) to %s, round trip %v\n", s.NQN(), namespaces, who, rtt)
	}
	for i, ln := range lns {
		host, port, _ := net.SplitHostPort(ln.Addr().String())
		if a, ok := ln.Addr().(*net.TCPAddr); ok && a.IP.IsUnspecified() {
			host = "<address>" // of this machine, as the host reaches it
		}
		fmt.Fprintf(w, "port %d on %s\n", i+1, ln.Addr())
		fmt.Fprintf(w, "nvme discover -t tcp -a %s -s %s\n", host, port)
		for _, s := range subs {
			fmt.Fprintf(w, "nvme connect -t tcp -a %s -s %s -n %s\n", host, port, s.NQN())
		}
	}
}

// serve serves each listener as a port, PORTIDs in order, until ctx is
// done or one fails.
func (fab *fabricFlags) serve(ctx context.Context, t *target.Target, lns []net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(lns))
	for i, ln := range lns {
		go func() {
			id := uint16(i + 1)
			pc := target.PortConfig{PortID: id, ConnectDelay: fab.portDelays[uint32(id)], ANAStates: fab.ana[id]}
			err := t.ServePort(ctx, ln, pc)
			if err != nil {
				err = fmt.Errorf("port %d (%s): %w", i+1, ln.Addr(), err)
			}
			cancel()
			errs <- err
		}()
	}
	var first error
	for range lns {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
