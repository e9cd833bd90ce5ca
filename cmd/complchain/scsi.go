package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/complchain/complchain/iscsi"
	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/scsi"
	"github.com/complchain/complchain/trace"
)

func init() { subcommands = append(subcommands, newSCSICmd) }

func newSCSICmd() *cobra.Command {
	var (
		hosts, luns, maxTargets     int
		latency, rtt, timeout       time.Duration
		mode, output, traceFile     string
		portal, initiator, chapCred string
		targetNames                 []string
		discover, digests           bool
		hang                        []int
	)
	cmd := &cobra.Command{
		Use:   "scsi",
		Short: "Scan iSCSI targets concurrently, one SCSI host each, and name their disks in host order",
		Long: `scsi runs Linux's asynchronous SCSI host scan over iSCSI: every target's
session is a SCSI host, every host is scanned at once — login, REPORT LUNS,
then INQUIRY, VPD pages 80h and 83h and READ CAPACITY(16) for each LUN,
unit attentions retried — yet in ordered mode the disks are added, and
named sda, sdb, …, in host order, through a completion chain. async adds
each host's disks when its scan ends; sync scans one host at a time. It
prints a table like lsscsi.

With no --portal it starts an embedded iSCSI target on 127.0.0.1 serving
--hosts emulated hosts (like scsi_debug) of --luns LUNs, each command
taking --latency, over a link of --rtt, and scans it over real sockets.
With --portal it scans a real target: the targets named by --target, or
with --discover (the default when no --target is given) every target its
SendTargets answer lists, logging in at the portal given (not at the
addresses the answer advertises). A target that fails its login or its
scan, or does not finish within --timeout, is reported on stderr and
given up; the others are named.`,
		Example: `  complchain scsi
  complchain scsi --hosts 8 --luns 4 --latency 5ms --mode async
  complchain scsi --hang-host 2 --timeout 1s -o json
  complchain scsi --portal 127.0.0.1:3260 --discover`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := scanmode.Parse(mode)
			if err != nil {
				return err
			}
			if output != "table" && output != "json" {
				return fmt.Errorf("unknown output format %q (want table or json)", output)
			}
			if hosts < 1 || luns < 1 || luns > scsi.MaxLUNs || latency < 0 || rtt < 0 || timeout <= 0 || maxTargets < 1 || portal == "" && hosts > maxTargets {
				return errors.New("--hosts and --luns must be at least 1 (LUNs at most 16384, hosts at most --max-targets), --latency and --rtt not negative, --timeout and --max-targets positive")
			}
			if err := scsiFlagsApply(cmd.Flags().Changed, portal != ""); err != nil {
				return err
			}
			cfg := iscsi.Config{InitiatorName: initiator}
			if digests {
				cfg.Params = iscsi.PreferredParams()
				cfg.Params.HeaderDigest, cfg.Params.DataDigest = true, true
			}
			if chapCred != "" {
				name, secret, ok := strings.Cut(chapCred, ":")
				if !ok {
					return errors.New("--chap wants NAME:SECRET")
				}
				cfg.CHAP = &iscsi.CHAP{Name: name, Secret: secret}
			}
			ctx := cmd.Context()
			if portal == "" {
				emulated := make([]*scsi.Host, hosts)
				for h := range emulated {
					emulated[h] = &scsi.Host{LUNs: luns, Latency: latency, Vendor: "Linux", Product: "scsi_debug", Rev: "0191", Blocks: 16 << 11}
				}
				for _, id := range hang {
					if id < 0 || id >= hosts {
						return fmt.Errorf("--hang-host %d: no such host (0 to %d)", id, hosts-1)
					}
					emulated[id].Hang = true
				}
				tg := iscsi.NewTarget(iscsi.TargetConfig{Hosts: emulated, Delay: rtt / 2, QueueDepth: 256, CHAP: cfg.CHAP, Params: cfg.Params})
				if portal, err = tg.Start(ctx, ""); err != nil {
					return err
				}
				defer tg.Close()
				targetNames = nil
				for h := range hosts {
					targetNames = append(targetNames, tg.Name(h))
				}
			} else if discover || len(targetNames) == 0 {
				dctx, cancel := context.WithTimeout(ctx, timeout)
				found, err := iscsi.Discover(dctx, portal, cfg)
				cancel()
				if err != nil {
					return fmt.Errorf("discover targets at %s: %w", portal, err)
				}
				for _, t := range found {
					targetNames = append(targetNames, t.Name)
				}
			}
			if len(targetNames) > maxTargets {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d targets, more than --max-targets %d: the first %d scanned\n", len(targetNames), maxTargets, maxTargets)
				targetNames = targetNames[:maxTargets]
			}
			s := &scsi.Scanner{Mode: m, Timeout: timeout}
			if traceFile != "" {
				s.Trace = trace.New()
			}
			start := time.Now()
			var sessions []*iscsi.Host
			for _, name := range targetNames {
				c := cfg
				c.TargetName = name
				h := iscsi.NewHost(portal, c)
				sessions = append(sessions, h)
				s.AddHost(ctx, h)
			}
			err = s.WaitScans(ctx)
			s.Close()
			elapsed := time.Since(start)
			logout(ctx, sessions, timeout)
			if err != nil {
				return err
			}
			if traceFile != "" {
				if err := writeTrace(traceFile, s.Trace); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				err = printSCSIJSON(out, s.Devices())
			} else {
				err = printLsscsi(out, s.Devices())
			}
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			fmt.Fprintf(stderr, "%s scan of %d iSCSI targets at %s: %d devices in %v\n", m, len(targetNames), portal, len(s.Devices()), elapsed.Round(time.Millisecond))
			for _, e := range s.Errors() {
				fmt.Fprintf(stderr, "  %s\n", printable(e.Error()))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&portal, "portal", "", "iSCSI portal host:port to scan (default: start an embedded target)")
	fl.BoolVar(&discover, "discover", false, "with --portal: scan every target SendTargets lists (the default without --target)")
	fl.StringSliceVar(&targetNames, "target", nil, "with --portal: target names to scan, in host order")
	fl.StringVar(&initiator, "initiator", iscsi.DefaultInitiatorName, "this initiator's iSCSI name")
	fl.BoolVar(&digests, "digests", false, "offer CRC32C header and data digests (the target chooses)")
	fl.StringVar(&chapCred, "chap", "", "CHAP NAME:SECRET to log in with (and, embedded, to require)")
	fl.IntVar(&maxTargets, "max-targets", 4096, "most targets scanned (sessions opened at once); a discovery listing more scans the first")
	fl.IntVar(&hosts, "hosts", 8, "embedded: emulated SCSI hosts, one iSCSI target each")
	fl.IntVar(&luns, "luns", 4, "embedded: LUNs per host")
	fl.DurationVar(&latency, "latency", 5*time.Millisecond, "embedded: time each command takes")
	fl.DurationVar(&rtt, "rtt", 0, "embedded: emulated network round-trip time")
	fl.StringVar(&mode, "mode", "ordered", "scan mode: ordered, async or sync")
	fl.DurationVar(&timeout, "timeout", 10*time.Second, "time allowed for each host's login and scan, and for discovery")
	fl.IntSliceVar(&hang, "hang-host", nil, "embedded: hosts (by number) whose target never answers a login")
	fl.StringVarP(&output, "output", "o", "table", "output format: table or json")
	fl.StringVar(&traceFile, "trace", "", "write a Chrome/Perfetto trace of every host's scan to this file")
	return cmd
}

// Flags that apply only with --portal, and only to the embedded target.
var (
	portalFlags   = []string{"discover", "target"}
	embeddedFlags = []string{"hosts", "luns", "latency", "rtt", "hang-host"}
)

// scsiFlagsApply refuses flags set that the scan would ignore: a portal's
// with the embedded target, the embedded target's with --portal.
func scsiFlagsApply(changed func(name string) bool, portal bool) error {
	names, why := portalFlags, "needs --portal"
	if portal {
		names, why = embeddedFlags, "applies only to the embedded target, not with --portal"
	}
	for _, n := range names {
		if changed(n) {
			return fmt.Errorf("--%s %s", n, why)
		}
	}
	return nil
}

// logout logs out of every session, at once, each within timeout.
func logout(ctx context.Context, hosts []*iscsi.Host, timeout time.Duration) {
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Go(func() {
			lctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			h.Close(lctx)
		})
	}
	wg.Wait()
}

var scsiTypes = map[uint8]string{scsi.TypeDisk: "disk", scsi.TypeTape: "tape", scsi.TypeCDROM: "cd/dvd", scsi.TypeEnclosure: "enclosu"}

func printLsscsi(w io.Writer, devs []*scsi.Device) error {
	for _, d := range devs {
		node, size := "-", "-"
		if d.Name != "" {
			node = "/dev/" + d.Name
			size = strings.Join(strings.Fields(siSize(d.Capacity.Bytes())), "")
		}
		typ, ok := scsiTypes[d.Type]
		if !ok {
			typ = fmt.Sprintf("type%d", d.Type)
		}
		if _, err := fmt.Fprintf(w, "%-13s %-7s %-8s %-16s %-4s  %-9s %s\n", "["+d.Addr.String()+"]", typ, printable(d.Vendor), printable(d.Product), printable(d.Revision), node, size); err != nil {
			return err
		}
	}
	return nil
}

func printSCSIJSON(w io.Writer, devs []*scsi.Device) error {
	type device struct {
		HCTL      string
		Type      string
		Vendor    wireString
		Model     wireString
		Revision  wireString
		Serial    wireString
		NAA       string       `json:",omitempty"`
		Device    string       `json:",omitempty"`
		Bytes     uint64       `json:",omitempty"`
		BlockSize uint32       `json:",omitempty"`
		Aliases   []wireString `json:",omitempty"`
	}
	out := []device{}
	for _, d := range devs {
		dev := device{HCTL: d.Addr.String(), Type: scsiTypes[d.Type], Vendor: wireString(d.Vendor), Model: wireString(d.Product), Revision: wireString(d.Revision), Serial: wireString(d.Serial)}
		if len(d.NAA) > 0 {
			dev.NAA = fmt.Sprintf("%x", d.NAA)
		}
		if d.Name != "" {
			dev.Device, dev.Bytes, dev.BlockSize = "/dev/"+d.Name, d.Capacity.Bytes(), d.Capacity.BlockSize
			dev.Aliases = wireStrings(d.Aliases)
		}
		out = append(out, dev)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct{ Devices any }{out})
}
