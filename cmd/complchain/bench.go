package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/scan"
)

func init() { subcommands = append(subcommands, newBenchCmd) }

// benchCell is the result of one mode at one round-trip time.
type benchCell struct {
	RTT        time.Duration   `json:"rtt_ns"`
	Namespaces int             `json:"namespaces"`
	QueueDepth int             `json:"admin_queue_depth"`
	Mode       string          `json:"mode"`
	Runs       []time.Duration `json:"runs_ns"`
	Median     time.Duration   `json:"median_ns"`
	Min        time.Duration   `json:"min_ns"`
	Max        time.Duration   `json:"max_ns"`
	Bound      time.Duration   `json:"bound_ns"`
	Commands   int64           `json:"commands"`
	total      time.Duration   // sum of Runs
}

func newBenchCmd() *cobra.Command {
	var (
		f       scanFlags
		modes   []string
		rtts    []string
		repeat  int
		minTime time.Duration
		output  string
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Compare the sync, async and ordered scans across round-trip times",
		Long: `bench reproduces the performance table of the Linux patch series that
introduced the completion chain: it scans the same namespaces in each mode
at each round-trip time, several times, and prints the median, min and max
scan time, the ratios ordered/async and sync/ordered, and the bound
RTT × (1 + ceil(N·k/Q)) beside each (k = 2 identify commands per namespace,
Q = admin queue depth).

Each round-trip time gets an embedded target with that emulated RTT; the
host connects once and every repetition is a first scan by a new scanner.
Async and ordered run interleaved, in alternating order, each after a
garbage collection, so a noisy machine affects them alike; sync, far
slower, runs first in a block of its own. Each cell gets at least
--repeat runs, and more while its runs add up to less than --min-time: a
quick scan is repeated until its median is stable. With --addr
it benchmarks a real target instead (--rtts is then ignored).

The seed measured, over NVMe/TCP with 100 namespaces: RTT 150 ms: sync
32375 ms, async 2543 ms, ordered 2431 ms; RTT 0.2 ms: 352, 248, 191 ms.`,
		Example: `  complchain bench
  complchain bench --admin-queue-depth 32 --repeat 3
  complchain bench --rtts 0.2ms --namespaces 10000 --modes ordered,async`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ms []scan.Mode
			for _, m := range modes {
				mode, err := scan.ParseMode(m)
				if err != nil {
					return err
				}
				ms = append(ms, mode)
			}
			var rs []time.Duration
			for _, r := range rtts {
				d, err := time.ParseDuration(r)
				if err != nil || d < 0 {
					return fmt.Errorf("--rtts: %q is not a round-trip time (e.g. 0.2ms, 15ms)", r)
				}
				rs = append(rs, d)
			}
			if f.addr != "" {
				rs = []time.Duration{0}
			}
			if repeat < 1 {
				return fmt.Errorf("--repeat %d: need at least one run", repeat)
			}
			if output != "table" && output != "json" {
				return fmt.Errorf("unknown output format %q (want table or json)", output)
			}
			ctx := cmd.Context()
			stderr := cmd.ErrOrStderr()
			var cells []*benchCell
			for _, rtt := range rs {
				f.rtt = rtt
				c, _, stop, err := f.connect(ctx)
				if err != nil {
					return err
				}
				row := make([]*benchCell, len(ms))
				for i, m := range ms {
					row[i] = &benchCell{RTT: rtt, Mode: m.String(), QueueDepth: c.QueueDepth()}
				}
				var log io.Writer
				if verbose {
					log = stderr
				}
				if err := measure(ctx, c, ms, row, repeat, minTime, log); err != nil {
					stop()
					return err
				}
				stop()
				for _, cell := range row {
					runs := slices.Clone(cell.Runs)
					slices.Sort(runs)
					cell.Min, cell.Max, cell.Median = runs[0], runs[len(runs)-1], median(runs)
					cell.Bound = scan.Bound(rtt, cell.Namespaces, cell.QueueDepth)
				}
				cells = append(cells, row...)
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Cells      []*benchCell `json:"cells"`
					PeakRSSKiB int64        `json:"peak_rss_kib,omitempty"`
				}{cells, peakRSSKiB()})
			}
			return printBench(cmd.OutOrStdout(), cells, repeat)
		},
	}
	f.registerTarget(cmd)
	fl := cmd.Flags()
	fl.StringSliceVar(&modes, "modes", []string{"sync", "async", "ordered"}, "scan modes to compare")
	fl.StringSliceVar(&rtts, "rtts", []string{"0.2ms", "15ms", "150ms"}, "emulated round-trip times")
	fl.IntVar(&repeat, "repeat", 5, "scans per mode and round-trip time, at least")
	fl.DurationVar(&minTime, "min-time", time.Second, "keep repeating a mode at a round-trip time until its scans add up to this (0: exactly --repeat scans)")
	fl.StringVarP(&output, "output", "o", "table", "output format: table or json")
	fl.BoolVarP(&verbose, "verbose", "v", false, "print every run on stderr as it finishes")
	return cmd
}

// measure runs the scans of one round-trip time on c, one cell of row per
// mode of ms. Sync scans, many times slower, run in a block of their own
// first: a long scan slows the quick one after it. The other modes run
// interleaved in alternating order (ABBA), after one unmeasured scan.
// Every scan follows a garbage collection, as in testing.B, so that none
// pays for an earlier one's garbage. A block repeats until each of its
// modes has run repeat times and for minTime in all (at most 1000 runs).
func measure(ctx context.Context, c *host.Controller, ms []scan.Mode, row []*benchCell, repeat int, minTime time.Duration, log io.Writer) error {
	once := func(m scan.Mode) (*scan.Result, error) {
		runtime.GC()
		s := &scan.Scanner{Ctrl: c, Mode: m}
		res, err := s.Scan(ctx)
		if err == nil && len(res.Failed) > 0 {
			err = fmt.Errorf("%v scan at RTT %v: %v", m, row[0].RTT, res.Failed[0])
		}
		return res, err
	}
	var slow, quick []int
	for i, m := range ms {
		if m == scan.Sync {
			slow = append(slow, i)
		} else {
			quick = append(quick, i)
		}
	}
	for _, block := range [][]int{slow, quick} {
		if len(block) == 0 {
			continue
		}
		if len(block) > 1 { // a warm-up before the side-by-side runs
			if _, err := once(ms[block[0]]); err != nil {
				return err
			}
		}
		var spent time.Duration
		for rep := 0; rep < repeat || spent < minTime && rep < 1000; rep++ {
			spent = math.MaxInt64
			for j := range block {
				i := block[j]
				if rep%2 == 1 {
					i = block[len(block)-1-j] // ABBA: no mode always runs after another
				}
				res, err := once(ms[i])
				if err != nil {
					return err
				}
				cell := row[i]
				cell.Namespaces = res.Listed
				cell.Commands = res.Commands
				cell.Runs = append(cell.Runs, res.Elapsed)
				cell.total += res.Elapsed
				spent = min(spent, cell.total)
				if log != nil {
					fmt.Fprintf(log, "RTT %v run %d %v: %v\n", cell.RTT, rep+1, ms[i], res.Elapsed)
				}
			}
		}
	}
	return nil
}

func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }

func printBench(w io.Writer, cells []*benchCell, repeat int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "RTT\tN\tQ\tmode\tmedian ms\tmin ms\tmax ms\tbound ms\tmedian/bound\t\n")
	for _, c := range cells {
		ratio := "-" // no emulated delay: no bound to compare with
		if c.Bound > 0 {
			ratio = strconv.FormatFloat(float64(c.Median)/float64(c.Bound), 'f', 2, 64)
		}
		fmt.Fprintf(tw, "%v\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.RTT, c.Namespaces, c.QueueDepth, c.Mode,
			ms(c.Median), ms(c.Min), ms(c.Max), ms(c.Bound), ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var ratios []string
	for _, rtt := range uniqueRTTs(cells) {
		get := func(mode string) time.Duration {
			for _, c := range cells {
				if c.RTT == rtt && c.Mode == mode {
					return c.Median
				}
			}
			return 0
		}
		sync, async, ordered := get("sync"), get("async"), get("ordered")
		r := fmt.Sprintf("RTT %v:", rtt)
		if ordered > 0 && async > 0 {
			r += fmt.Sprintf(" ordered/async %.3f", float64(ordered)/float64(async))
		}
		if ordered > 0 && sync > 0 {
			r += fmt.Sprintf(" sync/ordered %.1f", float64(sync)/float64(ordered))
		}
		ratios = append(ratios, r)
	}
	fmt.Fprintf(w, "\nmedians of at least %d runs (runs per cell: %s); ratios of medians\n%s\n", repeat, runCounts(cells), strings.Join(ratios, "\n"))
	if rss := peakRSSKiB(); rss > 0 {
		fmt.Fprintf(w, "peak RSS of this process (host and embedded target): %d MiB\n", rss/1024)
	}
	return nil
}

// runCounts lists the number of runs of each cell, e.g. "5 5 5 21 21".
func runCounts(cells []*benchCell) string {
	var n []string
	for _, c := range cells {
		n = append(n, strconv.Itoa(len(c.Runs)))
	}
	return strings.Join(n, " ")
}

func uniqueRTTs(cells []*benchCell) []time.Duration {
	var out []time.Duration
	for _, c := range cells {
		if !slices.Contains(out, c.RTT) {
			out = append(out, c.RTT)
		}
	}
	return out
}

// peakRSSKiB returns the process's peak resident set size (VmHWM), or 0
// where /proc does not tell.
func peakRSSKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
