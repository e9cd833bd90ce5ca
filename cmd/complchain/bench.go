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

	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/scanmode"
)

func init() { subcommands = append(subcommands, newBenchCmd) }

// benchCell is the result of one mode (or the floor) at one number of
// namespaces and round-trip time.
type benchCell struct {
	RTT        time.Duration   `json:"rtt_ns"`
	Namespaces int             `json:"namespaces"`
	QueueDepth int             `json:"admin_queue_depth"`
	Mode       string          `json:"mode"` // sync, async, ordered or floor
	Runs       []time.Duration `json:"runs_ns"`
	Median     time.Duration   `json:"median_ns"`
	Min        time.Duration   `json:"min_ns"`
	Max        time.Duration   `json:"max_ns"`
	Bound      time.Duration   `json:"bound_ns"`
	Floor      time.Duration   `json:"floor_ns,omitempty"` // the floor's median, if measured
	Commands   int64           `json:"commands,omitempty"`
	total      time.Duration   // sum of Runs
}

// floorMode is the mode name of the floor's cells.
const floorMode = "floor"

func newBenchCmd() *cobra.Command {
	var (
		f          scanFlags
		modes      []string
		rtts       []string
		namespaces []int
		repeat     int
		syncRepeat int
		minTime    time.Duration
		floor      bool
		cpuLoad    int
		plotFile   string
		output     string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Compare the sync, async and ordered scans across round-trip times",
		Long: `bench reproduces the performance table of the Linux patch series that
introduced the completion chain: it scans the same namespaces in each mode
at each round-trip time, several times, and prints the median, min and max
scan time, the ratios ordered/async and sync/ordered, the bound
RTT × (1 + ceil(N·k/Q)) (k = 2 identify commands per namespace, Q = admin
queue depth) and the floor beside each.

The floor is measured in the same run: the bytes of the scan (a capsule
out and 4 KiB back per list page and per identify command, at most Q
outstanding) moved through the same emulated link with no NVMe work at
either end, the least time any host and target can take on this machine.

Each number of namespaces and round-trip time gets an embedded target
with that emulated RTT; the host connects once and every repetition is a
first scan by a new scanner. Async, ordered and the floor run interleaved,
in every order in turn, each after a garbage collection, so a noisy machine
affects them alike; sync, far slower, runs first in a block of its own.
Each cell gets at least --repeat runs (--sync-repeat for sync), and more
while its runs add up to less than --min-time, rounded up to a whole
round of orders. ordered/async is also given as the median and
interquartile range of the ratios of runs made side by side. With
--addr it benchmarks a real target instead (--rtts and the floor are then
left out).

--cpu-load N runs N threads spinning in a sibling process for the whole
bench, competing for the CPUs as other processes do on a busy host.
--plot FILE.svg (or .png) draws the scan times against RTT, with the bound
and the floor, on log scales.

The seed measured, over NVMe/TCP with 100 namespaces: RTT 150 ms: sync
32375 ms, async 2543 ms, ordered 2431 ms; RTT 0.2 ms: 352, 248, 191 ms.`,
		Example: `  complchain bench
  complchain bench --admin-queue-depth 32 --plot bench.svg
  complchain bench --rtts 0.2ms --namespaces 1000,10000,100000 --modes ordered,async --cpu-load 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ms []scanmode.Mode
			for _, m := range modes {
				mode, err := scanmode.Parse(m)
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
			for _, n := range namespaces {
				if n < 0 || n > maxBenchNamespaces {
					return fmt.Errorf("--namespaces: %d namespaces: want 0 to %d", n, maxBenchNamespaces)
				}
			}
			if repeat < 1 || syncRepeat < 1 {
				return fmt.Errorf("--repeat %d, --sync-repeat %d: need at least one run", repeat, syncRepeat)
			}
			if cpuLoad < 0 || cpuLoad > maxCPULoad {
				return fmt.Errorf("--cpu-load %d: want 0 to %d threads", cpuLoad, maxCPULoad)
			}
			if output != "table" && output != "json" {
				return fmt.Errorf("unknown output format %q (want table or json)", output)
			}
			if err := checkPlotFile(plotFile); err != nil {
				return err
			}
			if err := f.resolve(cmd.ErrOrStderr()); err != nil {
				return err
			}
			if len(f.addrs) > 0 {
				rs, namespaces, floor = []time.Duration{0}, []int{0}, false
			}
			ctx := cmd.Context()
			var log io.Writer
			if f.verbose {
				log = cmd.ErrOrStderr()
			}
			if cpuLoad > 0 {
				stop, err := startCPULoad(cpuLoad)
				if err != nil {
					return err
				}
				defer stop()
			}
			var cells []*benchCell
			for _, n := range namespaces {
				for _, rtt := range rs {
					f.rtt, f.namespaces = rtt, n
					row, err := benchOne(ctx, &f, ms, floor, blockRepeat{repeat, syncRepeat, minTime}, log)
					if err != nil {
						return err
					}
					cells = append(cells, row...)
				}
			}
			if plotFile != "" {
				if err := plotBench(plotFile, cells, cpuLoad); err != nil {
					return err
				}
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Cells      []*benchCell `json:"cells"`
					CPULoad    int          `json:"cpu_load,omitempty"`
					PeakRSSKiB int64        `json:"peak_rss_kib,omitempty"`
				}{cells, cpuLoad, peakRSSKiB()})
			}
			return printBench(cmd.OutOrStdout(), cells, repeat, cpuLoad)
		},
	}
	f.registerTarget(cmd)
	fl := cmd.Flags()
	fl.StringSliceVar(&modes, "modes", []string{"sync", "async", "ordered"}, "scan modes to compare")
	fl.StringSliceVar(&rtts, "rtts", []string{"0.2ms", "15ms", "150ms"}, "emulated round-trip times")
	fl.IntSliceVar(&namespaces, "namespaces", []int{100}, fmt.Sprintf("namespaces of the embedded target, one target per count (at most %d)", maxBenchNamespaces))
	fl.IntVar(&repeat, "repeat", 11, "scans per cell at least, for async, ordered and the floor (rounded up to run them in every order as often)")
	fl.IntVar(&syncRepeat, "sync-repeat", 5, "scans per cell at least, for sync")
	fl.DurationVar(&minTime, "min-time", time.Second, "keep repeating a cell until its scans add up to this (0: --repeat scans, rounded up to a whole round of orders)")
	fl.BoolVar(&floor, "floor", true, "measure the floor beside the scans")
	fl.IntVar(&cpuLoad, "cpu-load", 0, "threads spinning in a sibling process during the bench (0: none)")
	fl.StringVar(&plotFile, "plot", "", "draw the results to this .svg or .png file")
	fl.StringVarP(&output, "output", "o", "table", "output format: table or json")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "print the host NQN and host ID, and every run as it finishes, on stderr")
	return cmd
}

// maxBenchNamespaces is the most namespaces bench's embedded target gets.
const maxBenchNamespaces = 1 << 20

// blockRepeat says how often the runs of a block repeat.
type blockRepeat struct {
	quick, sync int           // runs per cell, at least
	minTime     time.Duration // and until they add up to this
}

// benchOne measures one number of namespaces at one round-trip time:
// one cell per mode of ms, and one for the floor if floor is set.
func benchOne(ctx context.Context, f *scanFlags, ms []scanmode.Mode, floor bool, rep blockRepeat, log io.Writer) ([]*benchCell, error) {
	c, _, stop, err := f.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	var row []benchRunner
	for _, m := range ms {
		cell := &benchCell{RTT: f.rtt, Mode: m.String(), QueueDepth: c.QueueDepth()}
		row = append(row, benchRunner{cell: cell, slow: m == scanmode.Sync, run: func() (time.Duration, error) {
			s := &scan.Scanner{Ctrl: c, Mode: m}
			res, err := s.Scan(ctx)
			if err == nil && len(res.Failed) > 0 {
				err = fmt.Errorf("%v scan at RTT %v: %v", m, f.rtt, res.Failed[0])
			}
			if err != nil {
				return 0, err
			}
			cell.Namespaces, cell.Commands = res.Listed, res.Commands
			return res.Elapsed, nil
		}})
	}
	if floor && f.namespaces > 0 {
		fl, err := scan.NewFloor(ctx, f.rtt, f.namespaces, c.QueueDepth())
		if err != nil {
			return nil, err
		}
		defer fl.Close()
		cell := &benchCell{RTT: f.rtt, Mode: floorMode, QueueDepth: c.QueueDepth(), Namespaces: f.namespaces}
		row = append(row, benchRunner{cell: cell, run: func() (time.Duration, error) { return fl.Run(ctx) }})
	}
	if err := measure(row, rep, log); err != nil {
		return nil, err
	}
	var cells []*benchCell
	var floorMedian time.Duration
	for _, r := range row {
		cell := r.cell
		runs := slices.Clone(cell.Runs)
		slices.Sort(runs)
		cell.Min, cell.Max, cell.Median = runs[0], runs[len(runs)-1], median(runs)
		cell.Bound = scan.Bound(cell.RTT, cell.Namespaces, cell.QueueDepth)
		if cell.Mode == floorMode {
			floorMedian = cell.Median
		}
		cells = append(cells, cell)
	}
	for _, cell := range cells {
		cell.Floor = floorMedian
	}
	return cells, nil
}

// A benchRunner is one row of a block: a scan mode, or the floor.
type benchRunner struct {
	cell *benchCell
	slow bool // sync: runs in a block of its own, first
	run  func() (time.Duration, error)
}

// measure runs the rows of one number of namespaces and round-trip time.
// Sync scans, many times slower, run in a block of their own first: a
// long scan slows the quick one after it. The other rows run interleaved
// in every order in turn, after one unmeasured scan: each row runs as
// often after each other row, as a run pays for what the one before it
// left (with three rows, alternating ABC and CBA would put B after A or
// C every time, and B alone would pay). Every run
// follows a garbage collection, as in testing.B, so that none pays for an
// earlier one's garbage. A block repeats until each of its rows has run
// rep.quick (or rep.sync) times and for rep.minTime in all (at most 1000
// runs), rounded up to a whole round of orders (two runs a row with two
// rows, six with three).
func measure(row []benchRunner, rep blockRepeat, log io.Writer) error {
	once := func(r benchRunner) (time.Duration, error) {
		runtime.GC()
		return r.run()
	}
	var slow, quick []benchRunner
	for _, r := range row {
		if r.slow {
			slow = append(slow, r)
		} else {
			quick = append(quick, r)
		}
	}
	for _, block := range [][]benchRunner{slow, quick} {
		if len(block) == 0 {
			continue
		}
		repeat := rep.quick
		if block[0].slow {
			repeat = rep.sync
		}
		if len(block) > 1 { // a warm-up before the side-by-side runs
			if _, err := once(block[0]); err != nil {
				return err
			}
		}
		orders := permutations(len(block))
		var spent time.Duration
		// Whole rounds of orders only: a part of one would leave some
		// row after the floor more often than another.
		for i := 0; i < repeat || spent < rep.minTime && i < 1000 || i%len(orders) != 0; i++ {
			spent = math.MaxInt64
			for _, j := range orders[i%len(orders)] {
				r := block[j]
				d, err := once(r)
				if err != nil {
					return err
				}
				cell := r.cell
				cell.Runs = append(cell.Runs, d)
				cell.total += d
				spent = min(spent, cell.total)
				if log != nil {
					fmt.Fprintf(log, "N %d RTT %v run %d %s: %v\n", cell.Namespaces, cell.RTT, i+1, cell.Mode, d)
				}
			}
		}
	}
	return nil
}

// permutations returns every order of 0, …, n-1, each order after the
// last one reversed (for n = 2: AB, BA), so that every index runs as often
// after every other, within a pass and from one pass to the next. n is
// the number of rows of a block: async, ordered and the floor at most.
func permutations(n int) [][]int {
	if n <= 1 {
		return [][]int{make([]int, n)}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for k := 0; k <= len(p); k++ {
			q := slices.Insert(slices.Clone(p), k, n-1)
			out = append(out, q)
		}
	}
	// Pair each order with its reverse, so that the last row of one pass
	// is the first of the next.
	var paired [][]int
	seen := make(map[string]bool)
	for _, p := range out {
		key := fmt.Sprint(p)
		if seen[key] {
			continue
		}
		r := slices.Clone(p)
		slices.Reverse(r)
		seen[key], seen[fmt.Sprint(r)] = true, true
		paired = append(paired, p, r)
	}
	return paired
}

func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }

func printBench(w io.Writer, cells []*benchCell, repeat, cpuLoad int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "RTT\tN\tQ\tmode\tmedian ms\tmin ms\tmax ms\tbound ms\tmedian/bound\tmedian/floor\t\n")
	ratio := func(a, b time.Duration) string {
		if a == 0 || b == 0 {
			return "-" // no emulated delay, or no floor: nothing to compare with
		}
		return strconv.FormatFloat(float64(a)/float64(b), 'f', 2, 64)
	}
	for _, c := range cells {
		fmt.Fprintf(tw, "%v\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.RTT, c.Namespaces, c.QueueDepth, c.Mode,
			ms(c.Median), ms(c.Min), ms(c.Max), ms(c.Bound), ratio(c.Median, c.Bound), ratio(c.Median, c.Floor))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var lines []string
	for _, k := range benchKeys(cells) {
		get := func(mode string) *benchCell {
			for _, c := range cells {
				if c.RTT == k.rtt && c.Namespaces == k.n && c.Mode == mode {
					return c
				}
			}
			return nil
		}
		sync, async, ordered := get("sync"), get("async"), get(scanmode.Ordered.String())
		l := fmt.Sprintf("N %d RTT %v:", k.n, k.rtt)
		if ordered != nil && async != nil {
			l += fmt.Sprintf(" ordered/async %.3f", float64(ordered.Median)/float64(async.Median))
			if q1, q2, q3, ok := pairedRatios(ordered.Runs, async.Runs); ok {
				l += fmt.Sprintf(" (run by run %.3f, %.3f–%.3f)", q2, q1, q3)
			}
		}
		if ordered != nil && sync != nil {
			l += fmt.Sprintf(" sync/ordered %.1f", float64(sync.Median)/float64(ordered.Median))
		}
		lines = append(lines, l)
	}
	fmt.Fprintf(w, "\nmedians of at least %d runs (runs per cell: %s); ratios of medians; run by run: the median and interquartile range of the ratios of runs made side by side\n%s\n",
		repeat, runCounts(cells), strings.Join(lines, "\n"))
	if cpuLoad > 0 {
		fmt.Fprintf(w, "competing CPU load: %d threads spinning in a sibling process\n", cpuLoad)
	}
	if rss := peakRSSKiB(); rss > 0 {
		fmt.Fprintf(w, "peak RSS of this process (host and embedded target): %d MiB\n", rss/1024)
	}
	return nil
}

// pairedRatios returns the quartiles of a[i]/b[i]: runs of one pass of
// an interleaved block, made side by side. The median of the ratios is
// steadier than the ratio of the medians when the machine's load moves
// during the block.
func pairedRatios(a, b []time.Duration) (q1, q2, q3 float64, ok bool) {
	n := min(len(a), len(b))
	if n < 4 {
		return 0, 0, 0, false
	}
	r := make([]float64, n)
	for i := range n {
		r[i] = float64(a[i]) / float64(b[i])
	}
	slices.Sort(r)
	return r[n/4], r[n/2], r[(3*n)/4], true
}

// runCounts lists the number of runs of each cell, e.g. "5 5 5 21 21".
func runCounts(cells []*benchCell) string {
	var n []string
	for _, c := range cells {
		n = append(n, strconv.Itoa(len(c.Runs)))
	}
	return strings.Join(n, " ")
}

// benchKey names a group of cells: a number of namespaces and an RTT.
type benchKey struct {
	n   int
	rtt time.Duration
}

// benchKeys returns the groups of cells in their order.
func benchKeys(cells []*benchCell) []benchKey {
	var out []benchKey
	for _, c := range cells {
		if k := (benchKey{c.Namespaces, c.RTT}); !slices.Contains(out, k) {
			out = append(out, k)
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
