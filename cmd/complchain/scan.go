package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/fabric"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/multipath"
	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/trace"
)

func init() { subcommands = append(subcommands, newScanCmd) }

// scanFlags are the flags scan and bench share.
type scanFlags struct {
	addrs      []string
	nqns       []string
	mode       string
	naming     string
	rtt        time.Duration
	namespaces int
	queueDepth int
	timeout    time.Duration
	digests    bool

	// scan's fabric flags (registerFabric)
	discover         []string
	mapAddr          []string
	useDiscoveryAddr bool
	controllers      int
	maxControllers   int
	given            func(name string) bool // whether a flag was given

	connFlags
}

// register adds the flags of scan; bench has the same but those of one
// scan (mode, naming, rtt, namespaces), which it varies itself.
func (f *scanFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "mode", "ordered", "scan mode: ordered (concurrent, named in list order), async (concurrent, named as found) or sync (one at a time)")
	fl.StringVar(&f.naming, "naming", "index", "naming: index (nvme0n<smallest free instance>) or nsid (nvme0n<NSID>)")
	fl.DurationVar(&f.rtt, "rtt", 2*time.Millisecond, "round-trip time emulated on the embedded target's link")
	fl.IntVar(&f.namespaces, "namespaces", 100, "namespaces of the embedded target")
	f.registerTarget(cmd)
}

// registerTarget adds the flags that choose the target and connection.
func (f *scanFlags) registerTarget(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.addrs, "addr", nil, "NVMe/TCP port to scan, host:port; repeat for several (default: an embedded target on 127.0.0.1)")
	fl.StringArrayVarP(&f.nqns, "nqn", "n", nil, "subsystem NQN of the --addr of the same rank, or of every --addr if given once (default: with --addr, every NVM subsystem its discovery log lists)")
	fl.IntVar(&f.queueDepth, "admin-queue-depth", 0, "admin queue entries to ask for, with no fallback (0: the discovery entry's ASQSZ, or 32 and then CAP.MQES+1 if the target takes it; Linux uses 32)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "time allowed to connect, and for each command")
	fl.BoolVar(&f.digests, "digests", false, "use NVMe/TCP header and data digests (CRC32C): --hdr-digest and --data-digest both")
	f.connFlags.register(fl)
}

// embeddedQueueDepth is the deepest admin and I/O queue the embedded
// target offers: as deep as Linux's nvmet I/O queues (CAP.MQES 1023),
// and its admin queues as deep, for the scan's many Identify commands.
const embeddedQueueDepth = 1024

// connect starts the embedded target if no address was given, and
// connects to the subsystem. stop undoes both; on error there is nothing
// to undo.
func (f *scanFlags) connect(ctx context.Context) (c *host.Controller, tg *target.Target, stop func(), err error) {
	if len(f.addrs) > 1 || len(f.nqns) > 1 {
		return nil, nil, nil, errors.New("give at most one --addr and one --nqn")
	}
	var addr, nqn string
	if len(f.addrs) == 1 {
		addr = f.addrs[0]
	}
	if len(f.nqns) == 1 {
		nqn = f.nqns[0]
	}
	if err := f.check(); err != nil {
		return nil, nil, nil, err
	}
	if addr == "" {
		if tg, addr, err = f.startTarget(ctx, target.DefaultNQN); err != nil {
			return nil, nil, nil, err
		}
		nqn = tg.NQN()
	}
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	cfg := f.hostConfig()
	if nqn == "" {
		entries, err := host.Discover(cctx, addr, cfg)
		if err != nil {
			closeTarget(tg)()
			return nil, nil, nil, fmt.Errorf("discover subsystems at %s (or give --nqn): %w", addr, err)
		}
		for _, e := range entries {
			if e.SubsystemType == nvme.SubtypeNVM {
				nqn, cfg.ASQSZ = e.SubsystemNQN, int(e.AdminQueueMax)
				break
			}
		}
		if nqn == "" {
			closeTarget(tg)()
			return nil, nil, nil, fmt.Errorf("the discovery log at %s lists no NVM subsystem; give --nqn", addr)
		}
	}
	cfg.SubsystemNQN = nqn
	c, err = host.Connect(cctx, addr, cfg)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("connect to %s: no answer within %v", addr, f.timeout)
		}
		closeTarget(tg)()
		return nil, nil, nil, err
	}
	return c, tg, func() { c.Close(); closeTarget(tg)() }, nil
}

// check checks the flags of the embedded target and the connection.
func (f *scanFlags) check() error {
	if f.namespaces < 0 || f.rtt < 0 || f.queueDepth < 0 || f.queueDepth > host.MaxAdminQueueDepth {
		return errors.New("--namespaces, --rtt and --admin-queue-depth must not be negative (depth at most 4096)")
	}
	return nil
}

// startTarget starts an embedded target serving nqn with the flags'
// namespaces and emulated round trip.
func (f *scanFlags) startTarget(ctx context.Context, nqn string) (*target.Target, string, error) {
	tg, err := target.New(target.Config{NQN: nqn, Namespaces: f.namespaces, AdminQueueDepth: embeddedQueueDepth, IOQueueDepth: embeddedQueueDepth, Delay: f.rtt / 2, MaxNSID: uint32(max(f.namespaces, 1024))})
	if err != nil {
		return nil, "", fmt.Errorf("embedded target: %w", err)
	}
	addr, err := tg.Start(ctx, "")
	if err != nil {
		tg.Close()
		return nil, "", fmt.Errorf("start the embedded target: %w", err)
	}
	return tg, addr, nil
}

func closeTarget(tg *target.Target) func() {
	return func() {
		if tg != nil {
			tg.Close()
		}
	}
}

func newScanCmd() *cobra.Command {
	var (
		f         scanFlags
		mp        multipathFlags
		output    string
		traceFile string
		watch     bool
		scanTime  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Scan NVMe/TCP controllers' namespaces concurrently and name them in order",
		Long: `scan connects to NVMe/TCP subsystems, lists their namespaces and identifies
them, and prints them like "nvme list".

With no flags it starts an embedded target on 127.0.0.1 (100 namespaces,
2 ms emulated round trip) and scans it in ordered mode: all namespaces are
identified at once, yet registered, and so named, in the order the
controller lists them. --mode async names them as they finish (as Linux's
asynchronous scan does); --mode sync scans one at a time. --controllers N
starts N embedded subsystems.

A fabric: --discover reads the discovery log of a discovery controller
(repeat it for several; nvme-cli's default discovery port is 8009),
follows referrals, and scans every NVM subsystem port listed. --addr with
--nqn scans a port directly; --addr without --nqn scans every NVM
subsystem its discovery log lists, at that address (as nvme connect -a
does: the address given is the one dialled). Every controller is connected at once; in ordered mode
they are numbered nvme0, nvme1, ... in discovery-log order, then
command-line order, whichever comes up first, and a port that fails is
reported on one line and takes no number. --mode applies to controllers
and namespaces alike.

A discovery log lists the addresses the subsystem advertises: a Linux
target in a virtual machine advertises the guest's own. --map-addr
ADVERTISED=DIAL dials an advertised host:port elsewhere;
--use-discovery-addr dials every listed port at the address its log was
read from.`,
		Example: `  complchain scan
  complchain scan --mode async --rtt 15ms
  complchain scan --controllers 4 -o json --verbose
  complchain scan --addr 127.0.0.1:4420 --nqn nqn.2026-01.io.example:interop -o json
  complchain scan --discover 127.0.0.1:8009 --discover 127.0.0.1:18009
  complchain scan --discover 127.0.0.1:14420 --map-addr 10.0.2.15:4420=127.0.0.1:14420
  complchain scan --watch --trace scan.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mode, err := scanmode.Parse(f.mode)
			if err != nil {
				return err
			}
			naming := scan.Index // with --multipath, --naming names the heads
			var headNaming multipath.Naming
			var names *multipath.Names
			if mp.on {
				headNaming, names, err = mp.naming(f.naming)
			} else if naming, err = scan.ParseNaming(f.naming); err == nil && mp.namesFile != "" {
				err = fmt.Errorf("--names-file needs --multipath")
			}
			if err != nil {
				return err
			}
			if output != "table" && output != "normal" && output != "json" {
				return fmt.Errorf("unknown output format %q (want table, normal or json)", output)
			}
			if err := f.resolve(cmd.ErrOrStderr()); err != nil {
				return err
			}
			ctx := cmd.Context()
			stderr := cmd.ErrOrStderr()
			ports, stop, err := f.ports(ctx, stderr)
			if err != nil {
				return err
			}
			defer stop()
			if traceFile != "" && len(ports) > 1 {
				return fmt.Errorf("--trace traces the scan of one port, not %d", len(ports))
			}
			s := &fabric.Scanner{Host: f.hostConfig(), ConnectTimeout: f.timeout, Mode: mode, Naming: naming, ScanTimeout: scanTime, MaxControllers: f.maxControllers}
			if traceFile != "" {
				s.Trace = trace.New()
			}
			var bar *progress
			if isTerminal(stderr) {
				bar = newProgress(stderr)
				s.Progress = bar.set
			}
			res, err := s.Scan(ctx, ports)
			bar.stop()
			defer res.Close()
			if len(ports) == 1 && len(res.Failed) == 1 {
				return res.Failed[0]
			}
			report(stderr, "failed", res.Failed)
			if f.advertisedFailed(ports, res.Failed) {
				fmt.Fprintln(stderr, "hint: ports are dialled at the addresses the discovery logs advertise; --use-discovery-addr or --map-addr dial them elsewhere")
			}
			if err != nil {
				return err
			}
			if len(res.Controllers) == 0 {
				return fmt.Errorf("no controller came up (%d ports)", len(ports))
			}
			for _, c := range res.Controllers {
				if c.Err != nil {
					return fmt.Errorf("%s: %w", c.Name, c.Err)
				}
			}
			if traceFile != "" {
				if err := writeTrace(traceFile, s.Trace); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if mp.on {
				subs, err := printHeads(ctx, out, stderr, res.Controllers, headNaming, names, output, f.verbose)
				if err != nil || !watch {
					return err
				}
				return watchHeads(ctx, out, stderr, subs, names)
			}
			switch {
			case output == "json" && f.verbose:
				err = printJSONVerbose(out, res.Controllers)
			case output == "json":
				err = printJSON(out, listOf(res.Controllers))
			default:
				err = printTable(out, listOf(res.Controllers))
			}
			if err != nil {
				return err
			}
			for _, c := range res.Controllers {
				fmt.Fprintf(stderr, "%s scan of %s at %s (%s): %s\n", mode, printable(c.Ctrl.IdentifyController().SubNQN), c.Ctrl.Addr(), c.Name, summary(c.Result, c.Ctrl, f))
				for _, fe := range c.Result.Failed {
					fmt.Fprintf(stderr, "  %s\n", printable(fe.Error()))
				}
			}
			if len(ports) > 1 {
				fmt.Fprintf(stderr, "%d of %d controllers up, %d namespaces, in %v\n", len(res.Controllers), len(ports), countNamespaces(res.Controllers), res.Elapsed.Round(10*time.Microsecond))
			}
			if !watch {
				return nil
			}
			return watchAll(ctx, out, stderr, res.Controllers, f)
		},
	}
	f.register(cmd)
	f.registerFabric(cmd)
	mp.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table (or normal, nvme-cli's name for it) or json (nvme-cli's \"nvme list -o json\" keys)")
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "print the host NQN and host ID, and where they came from, on stderr; with -o json: nvme-cli's \"nvme list -v -o json\" shape (Subsystems, Controllers, Namespaces)")
	cmd.Flags().StringVar(&traceFile, "trace", "", "write a Chrome/Perfetto trace of every namespace task to this file (one port only)")
	cmd.Flags().BoolVar(&watch, "watch", false, "keep the connections and rescan a controller on each of its namespace change events")
	cmd.Flags().DurationVar(&scanTime, "scan-timeout", 5*time.Minute, "time allowed for each controller's whole scan, and for each rescan with --watch (0: no limit); --timeout bounds connecting and each command")
	return cmd
}

// watchAll rescans each controller on its namespace change events until
// ctx is done.
func watchAll(ctx context.Context, out, stderr io.Writer, ctrls []*fabric.Controller, f scanFlags) error {
	fmt.Fprintln(stderr, "watching for namespace changes; interrupt to stop")
	var mu sync.Mutex // one report at a time
	errs := make([]error, len(ctrls))
	var wg sync.WaitGroup
	for i, c := range ctrls {
		wg.Go(func() {
			errs[i] = c.Scanner.Watch(ctx, func(r *scan.Result, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					fmt.Fprintf(stderr, "rescan of %s: %s\n", c.Name, printable(err.Error()))
					return
				}
				for _, ns := range r.Removed {
					fmt.Fprintf(out, "removed /dev/%s (NSID %d)\n", ns.Name, ns.NSID)
				}
				for _, ns := range r.Added {
					fmt.Fprintf(out, "added   /dev/%s (NSID %d)\n", ns.Name, ns.NSID)
				}
				fmt.Fprintf(stderr, "rescan of %s: %s\n", c.Name, summary(r, c.Ctrl, f))
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}

func countNamespaces(ctrls []*fabric.Controller) int {
	n := 0
	for _, c := range ctrls {
		n += len(c.Result.Added)
	}
	return n
}

func summary(res *scan.Result, c *host.Controller, f scanFlags) string {
	s := fmt.Sprintf("%d listed, %d added, %d removed, %d revalidated, %d failed in %v (%d identify commands, admin queue depth %d",
		res.Listed, len(res.Added), len(res.Removed), res.Revalidated, len(res.Failed), res.Elapsed.Round(10*time.Microsecond), res.Commands, c.QueueDepth())
	if f.embedded() {
		s += fmt.Sprintf(", emulated RTT %v, bound %v", f.rtt, scan.Bound(f.rtt, res.Listed, c.QueueDepth()))
	}
	return s + ")"
}

func writeTrace(path string, r *trace.Recorder) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--trace: %w", err)
	}
	if _, err := r.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("--trace: %w", err)
	}
	return f.Close()
}

// byName orders namespaces for the JSON listing: by device name, shorter
// names first (nvme0n2 before nvme0n10).
func byName(nss []*scan.Namespace) []*scan.Namespace {
	nss = slices.Clone(nss)
	slices.SortFunc(nss, func(a, b *scan.Namespace) int {
		return cmpSuffix(a.Name, b.Name)
	})
	return nss
}

func cmpSuffix(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// jsonDevice is one entry of nvme-cli's "nvme list -o json" (2.4 and
// later), with complchain's extra keys after nvme-cli's.
type jsonDevice struct {
	NameSpace    uint32
	DevicePath   string
	GenericPath  string
	Firmware     wireString
	ModelNumber  wireString
	SerialNumber wireString
	UsedBytes    uint64
	MaximumLBA   uint64
	PhysicalSize uint64
	SectorSize   uint32
	NGUID        string       `json:",omitempty"`
	EUI64        string       `json:",omitempty"`
	UUID         string       `json:",omitempty"`
	WWID         string       `json:",omitempty"`
	Aliases      []wireString `json:",omitempty"`
}

// printJSON prints the namespaces of ctrls as nvme-cli's "nvme list -o
// json": one flat Devices list, controller after controller, each one's
// namespaces by name (nvme0n2 before nvme0n10).
func printJSON(w io.Writer, ctrls []listCtrl) error {
	// Devices are encoded one at a time, not as one document, so that the
	// output of ten thousand namespaces never sits in memory whole.
	bw := bufio.NewWriter(w)
	n := 0
	for _, c := range ctrls {
		n += len(c.nss)
	}
	if n == 0 {
		bw.WriteString("{\n  \"Devices\": []\n}\n")
		return bw.Flush()
	}
	bw.WriteString("{\n  \"Devices\": [\n")
	i := 0
	for _, c := range ctrls {
		id := c.id
		for _, ns := range byName(c.nss) {
			bs := uint64(ns.BlockSize)
			d := jsonDevice{
				NameSpace: ns.NSID, DevicePath: "/dev/" + ns.Name, GenericPath: "/dev/" + ns.Generic,
				Firmware: wireString(id.Firmware), ModelNumber: wireString(id.ModelNumber), SerialNumber: wireString(id.SerialNumber),
				UsedBytes: ns.Used * bs, MaximumLBA: ns.Size, PhysicalSize: ns.Size * bs, SectorSize: ns.BlockSize,
				WWID: ns.WWID, Aliases: wireStrings(ns.Aliases),
			}
			if ns.NGUID != [16]byte{} {
				d.NGUID = fmt.Sprintf("%x", ns.NGUID)
			}
			if ns.EUI64 != [8]byte{} {
				d.EUI64 = fmt.Sprintf("%x", ns.EUI64)
			}
			if u := ns.UUID; u != [16]byte{} {
				d.UUID = string(nvme.AppendUUID(nil, u))
			}
			b, err := json.MarshalIndent(d, "    ", "  ")
			if err != nil {
				return err
			}
			bw.WriteString("    ")
			bw.Write(b)
			if i++; i < n {
				bw.WriteByte(',')
			}
			bw.WriteByte('\n')
		}
	}
	bw.WriteString("  ]\n}\n")
	return bw.Flush()
}

// isTerminal reports whether w is a terminal, where progress is drawn.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) // not /dev/null, a character device too
}

// progress is a progress bar of namespaces identified, on a terminal.
type progress struct {
	p   *mpb.Progress
	bar *mpb.Bar
}

func newProgress(w io.Writer) *progress {
	p := mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))
	bar := p.AddBar(0,
		mpb.PrependDecorators(decor.Name("namespaces "), decor.CountersNoUnit("%d/%d")),
		mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO)),
	)
	return &progress{p: p, bar: bar}
}

func (p *progress) set(done, listed int) {
	p.bar.SetTotal(int64(listed), false)
	p.bar.SetCurrent(int64(done))
}

func (p *progress) stop() {
	if p == nil {
		return
	}
	p.bar.SetTotal(-1, true)
	p.p.Wait()
}
