package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/nvme/target/control"
)

func init() { subcommands = append(subcommands, newTargetCmd) }

// targetPattern is written at the start of namespace 1 so that a host can
// check what it reads back.
const targetPattern = "complchain target: namespace 1, sector 0\n"

func newTargetCmd() *cobra.Command {
	var (
		fab        fabricFlags
		cfg        target.Config
		nsSize     string
		budget     string
		connBudget string
		readBudget string
		rtt        time.Duration
		failNSID   []string
		delayNSID  []string
		hangNSID   []uint
		omitIDs    []string
		zeroIDs    []string
		verbose    bool
		backingDir string
		backing    []string
		idDelay    string
		ctlPath    string
	)
	cmd := &cobra.Command{
		Use:   "target",
		Short: "Serve emulated NVMe/TCP subsystems until interrupted",
		Long: `target serves emulated NVM subsystems over NVMe/TCP, with the discovery
subsystem, on one or more ports until interrupted. A Linux host connects
with the "nvme connect" lines it prints.

With --subsystems N above 1 the subsystems are <nqn>:sub1 … <nqn>:subN, each
with --namespaces namespaces, on every --listen address (PORTIDs 1, 2, … in
flag order). --allow-host applies to every subsystem, --allow-host-subsys to
one; a subsystem with neither allows any host. The fault flags apply to every
subsystem.

Namespaces keep their data in sparse memory, lost at exit, unless
--backing-dir or --backing give them files or block devices, whose data
survives restarts; a file that cannot be opened is an error at start.
Namespace 1 of each subsystem, when in memory, starts with a recognisable
text in its first sector. Write Zeroes and Dataset Management deallocate
free memory, punch holes in files and discard blocks of devices, where
each can. DLFEAT says deallocated blocks read as zeros for memory and for
files whose file system punches holes (tried at start), not for block
devices; where nothing can be deallocated, Dataset Management does
nothing and Write Zeroes writes zeros.

--identify-delay holds the answers to the Identify commands a host sends
to identify each namespace, so that a host which scans namespaces
asynchronously (Linux 6.12) finishes them out of order and, without an
ordered scan, names them out of order: --namespaces 20 --identify-delay
reverse:20ms has NSID 1 answer last.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			size, err := parseSize(nsSize)
			if err != nil {
				return fmt.Errorf("--ns-size: %w", err)
			}
			cfg.NamespaceSize = size
			b, err := parseSize(connBudget)
			if err != nil || b > 1<<40 {
				return fmt.Errorf("--conn-write-budget: invalid size %q", connBudget)
			}
			cfg.Limits.ConnWriteBudget = int(b)
			if b, err = parseSize(budget); err != nil || b > 1<<40 {
				return fmt.Errorf("--write-budget: invalid size %q", budget)
			}
			cfg.Limits.WriteBudget = int64(b)
			if b, err = parseSize(readBudget); err != nil || b > 1<<40 {
				return fmt.Errorf("--read-budget: invalid size %q", readBudget)
			}
			cfg.Limits.ReadBudget = int64(b)
			if cfg.Limits.ConnectTimeout <= 0 || cfg.Limits.DataTimeout <= 0 || cfg.Limits.MaxConnections <= 0 || cfg.Limits.MaxConnectionsPerHost <= 0 {
				return errors.New("--connect-timeout, --data-timeout, --max-connections and --max-connections-per-host must be positive")
			}
			if rtt < 0 {
				return fmt.Errorf("--rtt %v: must not be negative", rtt)
			}
			cfg.Delay = rtt / 2
			if cfg.Faults.Status, err = parseKeyMap(failNSID, "NSID", parseStatus); err != nil {
				return fmt.Errorf("--fail-nsid: %w", err)
			}
			if cfg.Faults.Delay, err = parseKeyMap(delayNSID, "NSID", time.ParseDuration); err != nil {
				return fmt.Errorf("--delay-nsid: %w", err)
			}
			if len(hangNSID) > 0 {
				cfg.Faults.Hang = make(map[uint32]bool)
				for _, id := range hangNSID {
					if id == 0 || id > 0xffffffff {
						return fmt.Errorf("--hang-nsid %d: not an NSID", id)
					}
					cfg.Faults.Hang[uint32(id)] = true
				}
			}
			omit, err := parseKeyMap(omitIDs, "NSID", parseIDs)
			if err != nil {
				return fmt.Errorf("--omit-ids: %w", err)
			}
			zero, err := parseKeyMap(zeroIDs, "NSID", parseIDs)
			if err != nil {
				return fmt.Errorf("--zero-ids: %w", err)
			}
			// Namespaces are attached here, each with its identifiers.
			n := cfg.Namespaces
			if n < 0 {
				return fmt.Errorf("--namespaces %d: must not be negative", n)
			}
			if idDelay != "" {
				nsids := make([]uint32, n)
				for i := range nsids {
					nsids[i] = uint32(i + 1)
				}
				if cfg.Faults.IdentifyDelay, err = target.ParseIdentifyDelay(idDelay, nsids); err != nil {
					return fmt.Errorf("--identify-delay: %w", err)
				}
			}
			if err := fab.configure(&cfg); err != nil {
				return err
			}
			backends, closeBackends, err := openBackings(backingDir, backing, fab.subsystems, n, cfg.Subsystems[0].NamespaceSize)
			if err != nil {
				return err
			}
			defer closeBackends()
			out := cmd.OutOrStdout()
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			t, err := target.New(cfg)
			if err != nil {
				return err
			}
			defer t.Close() // before the backends close
			for i, s := range t.Subsystems() {
				for id := 1; id <= n; id++ {
					nsid := uint32(id)
					if err := s.Attach(target.Namespace{NSID: nsid, Omit: omit[nsid], Zero: zero[nsid], Backend: backends[i][nsid]}); err != nil {
						return fmt.Errorf("%s namespace %d: %w", s.NQN(), nsid, err)
					}
				}
				if n > 0 && backends[i][1] == nil { // stored data is the host's
					if err := s.WriteAt(1, []byte(targetPattern), 0); err != nil {
						return err
					}
				}
			}
			lns, err := fab.listeners(cmd.Context())
			if err != nil {
				return err
			}
			if ctlPath == "" {
				fab.banner(out, t, lns, n, rtt)
				return fab.serve(cmd.Context(), t, lns)
			}
			return serveWithControl(cmd.Context(), out, ctlPath, t, func(ctx context.Context) error {
				fab.banner(out, t, lns, n, rtt)
				return fab.serve(ctx, t, lns)
			}, lns)
		},
	}
	f := cmd.Flags()
	fab.flags(f)
	f.IntVar(&cfg.Namespaces, "namespaces", 4, "number of namespaces (NSIDs 1..N)")
	f.StringVar(&nsSize, "ns-size", "1G", "size of each namespace (suffixes K, M, G, T: powers of 1024)")
	f.Uint32Var(&cfg.BlockSize, "block-size", 512, "logical block size, 512 or 4096")
	f.DurationVar(&rtt, "rtt", 0, "emulated round-trip time added to every connection")
	f.IntVar(&cfg.AdminQueueDepth, "admin-queue-depth", target.DefaultAdminQueueDepth,
		"deepest admin queue a host may create, reported as ASQSZ in the discovery log (2..4096)")
	f.IntVar(&cfg.IOQueueDepth, "io-queue-depth", target.DefaultIOQueueDepth,
		"deepest I/O queue a host may create, reported as CAP.MQES+1 (2..65536)")
	f.IntVar(&cfg.Limits.MaxConnections, "max-connections", target.DefaultMaxConnections,
		"connections open at once, from all hosts")
	f.IntVar(&cfg.Limits.MaxConnectionsPerHost, "max-connections-per-host", target.DefaultMaxConnectionsPerHost,
		"connections open at once from one source IP address")
	f.DurationVar(&cfg.Limits.ConnectTimeout, "connect-timeout", target.DefaultConnectTimeout,
		"time a new connection has to send ICReq and a successful Connect")
	f.DurationVar(&cfg.Limits.DataTimeout, "data-timeout", target.DefaultDataTimeout,
		"time a host has to send a write's data after the target's R2T, and to take what the target sends")
	f.StringVar(&connBudget, "conn-write-budget", "4M", "write data one connection may hold between R2T and execution (K, M, G suffixes)")
	f.StringVar(&budget, "write-budget", "32M", "write data all connections together may hold between R2T and execution")
	f.StringVar(&readBudget, "read-budget", "8M", "read data all connections together may hold until it is sent")
	f.DurationVar(&cfg.ServiceTime, "service-time", 0, "time the controller takes to execute each command")
	f.StringSliceVar(&failNSID, "fail-nsid", nil, "NSID=STATUS: answer commands for NSID with that NVMe status (hex, e.g. 1=0x4002)")
	f.StringSliceVar(&delayNSID, "delay-nsid", nil, "NSID=DURATION: extra service time for commands for NSID (Identify and I/O)")
	f.StringVar(&idDelay, "identify-delay", "", "delay the Identify commands that identify each namespace (CNS 00h, 03h, 05h, 08h):\n"+
		"reverse:STEP (NSID n of N after (N-n+1)×STEP), random:SEED:MAX (uniform 0..MAX per NSID, seeded),\n"+
		"nsid:1=400ms,2=380ms,… (as listed); each delay at most 1h")
	f.UintSliceVar(&hangNSID, "hang-nsid", nil, "never answer commands for these NSIDs")
	f.IntVar(&cfg.Faults.DropAfter, "drop-after", 0, "close each connection after serving this many commands")
	f.IntVar(&cfg.Faults.MalformedAfter, "malformed-after", 0, "send a malformed PDU in place of each connection's response number N+1")
	f.StringSliceVar(&omitIDs, "omit-ids", nil, "NSID=IDS: the namespace has no such identifiers (IDS: nguid, eui64, uuid joined with '+', or all)")
	f.StringSliceVar(&zeroIDs, "zero-ids", nil, "NSID=IDS: report these identifiers as all-zero descriptors (IDS as for --omit-ids)")
	f.StringVar(&backingDir, "backing-dir", "", "keep each namespace's data in DIR/nsid-<NSID>.img (DIR/sub<I>/nsid-<NSID>.img with several subsystems),\ncreated sparse at --ns-size and kept across runs")
	f.StringSliceVar(&backing, "backing", nil, "NSID=PATH: keep the namespace's data in an existing file or block device, of its size (one subsystem only)")
	f.BoolVarP(&verbose, "verbose", "v", false, "log connects, disconnects and controller teardowns")
	f.StringVar(&ctlPath, "control", "", fmt.Sprintf(`unix socket to serve the control API on (permissions 0600, at most %d connections at once; see "target ctl"); off if empty`, control.MaxConns))
	cmd.AddCommand(newTargetCtlCmd())
	return cmd
}

// parseSize parses a byte count with an optional K, M, G or T suffix.
func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	if i := strings.IndexAny(s, "KMGTkmgt"); i >= 0 && i == len(s)-1 {
		mult = 1 << (10 * (strings.IndexByte("KMGT", s[i]&^0x20) + 1))
		s = s[:i]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || n > ^uint64(0)/mult {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

// parseIDs parses a '+'-separated list of namespace identifiers: nguid,
// eui64, uuid, or all.
func parseIDs(s string) (target.IDs, error) {
	var ids target.IDs
	for _, name := range strings.Split(s, "+") {
		switch name {
		case "nguid":
			ids |= target.IDNGUID
		case "eui64":
			ids |= target.IDEUI64
		case "uuid":
			ids |= target.IDUUID
		case "all":
			ids |= target.IDNGUID | target.IDEUI64 | target.IDUUID
		default:
			return 0, fmt.Errorf("unknown identifier %q (want nguid, eui64, uuid or all)", name)
		}
	}
	return ids, nil
}

func parseStatus(s string) (nvme.Status, error) {
	v, err := strconv.ParseUint(s, 0, 16)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("invalid status %q (a non-zero number such as 0x4002)", s)
	}
	return nvme.Status(v), nil
}

// parseKeyMap parses KEY=VALUE pairs whose keys are positive numbers
// (NSIDs, subsystem numbers); key names them in errors.
func parseKeyMap[V any](pairs []string, key string, parse func(string) (V, error)) (map[uint32]V, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := make(map[uint32]V, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		id, err := strconv.ParseUint(k, 10, 32)
		if !ok || err != nil || id == 0 {
			return nil, fmt.Errorf("%q: want %s=VALUE", p, key)
		}
		val, err := parse(v)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", p, err)
		}
		m[uint32(id)] = val
	}
	return m, nil
}
