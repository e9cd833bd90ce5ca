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
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/trace"
)

func init() { subcommands = append(subcommands, newScanCmd) }

// scanFlags are the flags scan and bench share.
type scanFlags struct {
	addr       string
	nqn        string
	mode       string
	naming     string
	rtt        time.Duration
	namespaces int
	queueDepth int
	timeout    time.Duration
	digests    bool
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
	fl.StringVar(&f.addr, "addr", "", "NVMe/TCP target to scan, host:port (default: an embedded target on 127.0.0.1)")
	fl.StringVar(&f.nqn, "nqn", "", "subsystem NQN (default: the embedded target's; with --addr, the first NVM subsystem its discovery log lists)")
	fl.IntVar(&f.queueDepth, "admin-queue-depth", 0, "admin queue entries to ask for, with no fallback (0: the discovery entry's ASQSZ, or 32 and then CAP.MQES+1 if the target takes it; Linux uses 32)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "time allowed to connect, and for each command")
	fl.BoolVar(&f.digests, "digests", false, "use NVMe/TCP header and data digests (CRC32C)")
}

// embeddedQueueDepth is the deepest admin and I/O queue the embedded
// target offers: as deep as Linux's nvmet I/O queues (CAP.MQES 1023),
// and its admin queues as deep, for the scan's many Identify commands.
const embeddedQueueDepth = 1024

// connect starts the embedded target if no address was given, and
// connects to the subsystem. stop undoes both; on error there is nothing
// to undo.
func (f *scanFlags) connect(ctx context.Context) (c *host.Controller, tg *target.Target, stop func(), err error) {
	addr, nqn := f.addr, f.nqn
	if f.namespaces < 0 || f.rtt < 0 || f.queueDepth < 0 || f.queueDepth > host.MaxAdminQueueDepth {
		return nil, nil, nil, errors.New("--namespaces, --rtt and --admin-queue-depth must not be negative (depth at most 4096)")
	}
	if addr == "" {
		tg, err = target.New(target.Config{Namespaces: f.namespaces, AdminQueueDepth: embeddedQueueDepth, IOQueueDepth: embeddedQueueDepth, Delay: f.rtt / 2, MaxNSID: uint32(max(f.namespaces, 1024))})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("embedded target: %w", err)
		}
		if addr, err = tg.Start(ctx, ""); err != nil {
			tg.Close()
			return nil, nil, nil, fmt.Errorf("start the embedded target: %w", err)
		}
		nqn = tg.NQN()
	}
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	cfg := host.Config{AdminQueueDepth: f.queueDepth, CommandTimeout: f.timeout, HeaderDigest: f.digests, DataDigest: f.digests}
	if nqn == "" {
		entries, err := host.Discover(cctx, addr, cfg)
		if err != nil {
			closeTarget(tg)()
			return nil, nil, nil, fmt.Errorf("discover subsystems at %s (or give --nqn): %w", addr, err)
		}
		for _, e := range entries {
			if e.SubsystemType == 2 {
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
		output    string
		traceFile string
		watch     bool
		scanTime  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Scan an NVMe/TCP controller's namespaces concurrently and name them in list order",
		Long: `scan connects to an NVMe/TCP subsystem, lists its namespaces and identifies
them, and prints them like "nvme list".

With no flags it starts an embedded target on 127.0.0.1 (100 namespaces,
2 ms emulated round trip) and scans it in ordered mode: all namespaces are
identified at once, yet registered, and so named, in the order the
controller lists them. --mode async names them as they finish (as Linux's
asynchronous scan does); --mode sync scans one at a time.

Point it at a real target with --addr (and --nqn, or the first subsystem of
the target's discovery log is used).`,
		Example: `  complchain scan
  complchain scan --mode async --rtt 15ms
  complchain scan --addr 127.0.0.1:4420 --nqn nqn.2026-01.io.example:interop -o json
  complchain scan --watch --trace scan.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mode, err := scanmode.Parse(f.mode)
			if err != nil {
				return err
			}
			naming, err := scan.ParseNaming(f.naming)
			if err != nil {
				return err
			}
			if output != "table" && output != "json" {
				return fmt.Errorf("unknown output format %q (want table or json)", output)
			}
			ctx := cmd.Context()
			c, _, stop, err := f.connect(ctx)
			if err != nil {
				return err
			}
			defer stop()
			s := &scan.Scanner{Ctrl: c, Mode: mode, Naming: naming, Timeout: scanTime}
			if traceFile != "" {
				s.Trace = trace.New()
			}
			stderr := cmd.ErrOrStderr()
			var bar *progress
			if isTerminal(stderr) {
				bar = newProgress(stderr)
				s.Progress = bar.set
			}
			res, err := s.Scan(ctx)
			bar.stop()
			if err != nil {
				return err
			}
			if traceFile != "" {
				if err := writeTrace(traceFile, s.Trace); err != nil {
					return err
				}
			}
			id := c.IdentifyController()
			out := cmd.OutOrStdout()
			if output == "json" {
				err = printJSON(out, id, s.Namespaces())
			} else {
				err = printTable(out, id, s.Namespaces())
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "%s scan of %s at %s: %s\n", mode, printable(id.SubNQN), c.Addr(), summary(res, c, f))
			for _, fe := range res.Failed {
				fmt.Fprintf(stderr, "  %s\n", printable(fe.Error()))
			}
			if !watch {
				return nil
			}
			fmt.Fprintln(stderr, "watching for namespace changes; interrupt to stop")
			err = s.Watch(ctx, func(r *scan.Result, err error) {
				if err != nil {
					fmt.Fprintf(stderr, "rescan: %s\n", printable(err.Error()))
					return
				}
				for _, ns := range r.Removed {
					fmt.Fprintf(out, "removed /dev/%s (NSID %d)\n", ns.Name, ns.NSID)
				}
				for _, ns := range r.Added {
					fmt.Fprintf(out, "added   /dev/%s (NSID %d)\n", ns.Name, ns.NSID)
				}
				fmt.Fprintf(stderr, "rescan: %s\n", summary(r, c, f))
			})
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json (nvme-cli's \"nvme list -o json\" keys)")
	cmd.Flags().StringVar(&traceFile, "trace", "", "write a Chrome/Perfetto trace of every namespace task to this file")
	cmd.Flags().BoolVar(&watch, "watch", false, "keep the connection and rescan on each namespace change event")
	cmd.Flags().DurationVar(&scanTime, "scan-timeout", 5*time.Minute, "time allowed for the whole scan, and for each rescan with --watch (0: no limit); --timeout bounds each command")
	return cmd
}

func summary(res *scan.Result, c *host.Controller, f scanFlags) string {
	s := fmt.Sprintf("%d listed, %d added, %d removed, %d revalidated, %d failed in %v (%d identify commands, admin queue depth %d",
		res.Listed, len(res.Added), len(res.Removed), res.Revalidated, len(res.Failed), res.Elapsed.Round(10*time.Microsecond), res.Commands, c.QueueDepth())
	if f.addr == "" {
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

func printJSON(w io.Writer, id *nvme.IdentifyController, nss []*scan.Namespace) error {
	// Devices are encoded one at a time, not as one document, so that the
	// output of ten thousand namespaces never sits in memory whole.
	bw := bufio.NewWriter(w)
	if len(nss) == 0 {
		bw.WriteString("{\n  \"Devices\": []\n}\n")
		return bw.Flush()
	}
	bw.WriteString("{\n  \"Devices\": [\n")
	for i, ns := range byName(nss) {
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
		if i < len(nss)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("  ]\n}\n")
	return bw.Flush()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
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
