package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/scsi"
	"github.com/complchain/complchain/trace"
)

func init() { subcommands = append(subcommands, newSCSICmd) }

func newSCSICmd() *cobra.Command {
	var (
		hosts, channels, targets, luns int
		latency, timeout               time.Duration
		mode, output, traceFile        string
		hang                           []int
	)
	cmd := &cobra.Command{
		Use:   "scsi",
		Short: "Scan emulated SCSI hosts concurrently and name their disks in host order",
		Long: `scsi runs Linux's asynchronous SCSI host scan on emulated hosts (like
scsi_debug): every host is scanned at once — REPORT LUNS, then INQUIRY, VPD
pages 80h and 83h and READ CAPACITY(16) for each LUN — yet in ordered mode
the disks are added, and named sda, sdb, …, in host order, through a
completion chain. async adds each host's disks when its scan ends; sync
scans one host at a time. It prints a table like lsscsi.`,
		Example: `  complchain scsi
  complchain scsi --hosts 8 --targets 2 --luns 4 --latency 5ms --mode async
  complchain scsi --hang-host 2 --timeout 1s -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := scanmode.Parse(mode)
			if err != nil {
				return err
			}
			if output != "table" && output != "json" {
				return fmt.Errorf("unknown output format %q (want table or json)", output)
			}
			if hosts < 1 || channels < 1 || targets < 1 || luns < 1 || luns > 16384 || latency < 0 {
				return errors.New("--hosts, --channels, --targets and --luns must be at least 1 (LUNs at most 16384), --latency not negative")
			}
			s := &scsi.Scanner{Mode: m, Timeout: timeout}
			if traceFile != "" {
				s.Trace = trace.New()
			}
			ctx := cmd.Context()
			start := time.Now()
			for h := range hosts {
				host := &scsi.Host{Channels: channels, Targets: targets, LUNs: luns, Latency: latency,
					Vendor: "Linux", Product: "scsi_debug", Rev: "0191", Blocks: 16 << 11}
				for _, id := range hang {
					if id == h {
						host.Hang = true
					}
				}
				s.AddHost(ctx, host)
			}
			err = s.WaitScans(ctx)
			s.Close()
			if err != nil {
				return err
			}
			elapsed := time.Since(start)
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
			fmt.Fprintf(stderr, "%s scan of %d hosts: %d devices in %v (%v a command)\n", m, hosts, len(s.Devices()), elapsed.Round(time.Millisecond), latency)
			for _, e := range s.Errors() {
				fmt.Fprintf(stderr, "  %s\n", printable(e.Error()))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&hosts, "hosts", 8, "emulated SCSI hosts")
	fl.IntVar(&channels, "channels", 1, "channels per host")
	fl.IntVar(&targets, "targets", 2, "targets per channel")
	fl.IntVar(&luns, "luns", 4, "LUNs per target")
	fl.DurationVar(&latency, "latency", 5*time.Millisecond, "time each command takes")
	fl.StringVar(&mode, "mode", "ordered", "scan mode: ordered, async or sync")
	fl.DurationVar(&timeout, "timeout", 10*time.Second, "time allowed for each host's scan")
	fl.IntSliceVar(&hang, "hang-host", nil, "hosts (by number) that never answer")
	fl.StringVarP(&output, "output", "o", "table", "output format: table or json")
	fl.StringVar(&traceFile, "trace", "", "write a Chrome/Perfetto trace of every host's scan to this file")
	return cmd
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
