package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	runCPULoad() // the test binary is bench --cpu-load's sibling too
	// The host identity comes from the tests' files, never the
	// machine's /etc.
	identityRoot = testIdentityRoot
	os.Exit(m.Run())
}

func TestBenchSmall(t *testing.T) {
	defer goleak.VerifyNone(t)
	cells, _ := benchJSON(t, "--rtts", "0s,1ms", "--namespaces", "10", "--repeat", "2", "--sync-repeat", "1", "--min-time", "0")
	if len(cells) != 8 {
		t.Fatalf("%d cells, want 2 RTTs × (3 modes + the floor)", len(cells))
	}
	for _, c := range cells {
		runs := 6 // --repeat 2, rounded up to the 6 orders of async, ordered and the floor
		if c.Mode == "sync" {
			runs = 1
		}
		if len(c.Runs) != runs || c.Namespaces != 10 || c.Min > c.Median || c.Median > c.Max || c.Floor <= 0 {
			t.Fatalf("cell %+v", c)
		}
		if c.RTT > 0 && c.Median < c.Bound {
			t.Fatalf("%s at %v: median %v below the bound %v", c.Mode, c.RTT, c.Median, c.Bound)
		}
		if c.Mode == floorMode && c.Floor != c.Median {
			t.Fatalf("floor cell %+v: floor is not its own median", c)
		}
	}
}

// Several numbers of namespaces: a target each, cells in flag order.
func TestBenchNamespaces(t *testing.T) {
	defer goleak.VerifyNone(t)
	cells, _ := benchJSON(t, "--rtts", "1ms", "--namespaces", "5,1030", "--modes", "async,ordered", "--repeat", "1", "--min-time", "0")
	var got []string
	for _, c := range cells {
		got = append(got, c.Mode+"/"+strconv.Itoa(c.Namespaces))
	}
	want := "async/5 ordered/5 floor/5 async/1030 ordered/1030 floor/1030"
	if strings.Join(got, " ") != want {
		t.Fatalf("cells %v, want %s", got, want)
	}
	for _, c := range cells[3:] { // two list pages: two round trips at least
		if c.Median < 2*time.Millisecond {
			t.Errorf("%s of 1030 namespaces in %v, less than two round trips", c.Mode, c.Median)
		}
	}
}

// With --min-time, a cell is repeated until its runs add up to it.
func TestBenchMinTime(t *testing.T) {
	defer goleak.VerifyNone(t)
	cells, _ := benchJSON(t, "--rtts", "1ms", "--modes", "ordered", "--floor=false", "--namespaces", "10", "--repeat", "1", "--min-time", "20ms")
	runs := cells[0].Runs
	var sum time.Duration
	for _, r := range runs {
		sum += r
	}
	// Runs repeat until they add up to --min-time, and stop as soon as
	// they do (on a loaded machine one run may be enough).
	if n := len(runs); len(cells) != 1 || n < 1 || sum < 20*time.Millisecond || sum-runs[n-1] >= 20*time.Millisecond {
		t.Fatalf("%d cells, %d runs adding up to %v for --min-time 20ms: %v", len(cells), n, sum, runs)
	}
}

// --cpu-load runs a sibling process for the bench's duration and ends it.
func TestBenchCPULoad(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, load := benchJSON(t, "--rtts", "1ms", "--modes", "ordered", "--namespaces", "10", "--repeat", "1", "--min-time", "0", "--cpu-load", "1")
	if load != 1 {
		t.Fatalf("cpu_load %d, want 1", load)
	}
}

func TestBenchPlot(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		file  string
		args  []string
		magic string
	}{
		{"rtt.svg", []string{"--rtts", "0s,1ms,2ms"}, "<?xml"},
		{"n.png", []string{"--rtts", "1ms", "--namespaces", "5,20"}, "\x89PNG"},
	} {
		file := filepath.Join(dir, tc.file)
		args := append([]string{"bench", "--modes", "async,ordered", "--repeat", "1", "--min-time", "0", "--plot", file}, tc.args...)
		if _, stderr, err := run(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(tc.magic)) || len(b) < 1000 {
			t.Errorf("%s: %d bytes starting %q", tc.file, len(b), b[:min(len(b), 8)])
		}
	}
}

func TestBenchErrors(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rtts", "soon"}, `--rtts: "soon"`},
		{[]string{"--namespaces", "-1"}, "--namespaces: -1"},
		{[]string{"--cpu-load", "-1"}, "--cpu-load -1"},
		{[]string{"--repeat", "0"}, "--repeat 0"},
		{[]string{"--plot", "bench.pdf"}, `--plot "bench.pdf"`},
		{[]string{"--rtts", "0s", "--plot", filepath.Join(t.TempDir(), "b.svg"), "--repeat", "1", "--min-time", "0", "--namespaces", "2"}, "--plot: no round-trip time above 0"},
	} {
		_, _, err := run(t, append([]string{"bench"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line containing %q", tc.args, err, tc.want)
		}
	}
}

// benchJSON runs bench with args and -o json and returns its cells and
// CPU load.
func benchJSON(t *testing.T, args ...string) ([]benchCell, int) {
	t.Helper()
	out, stderr, err := run(t, append(append([]string{"bench"}, args...), "-o", "json")...)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	var doc struct {
		Cells   []benchCell `json:"cells"`
		CPULoad int         `json:"cpu_load"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Cells, doc.CPULoad
}

// Within the passes of a block, every row runs as often right after each
// other row, so that what one row leaves behind is paid by all alike.
func TestPermutationsBalanced(t *testing.T) {
	for n := 1; n <= 4; n++ {
		orders := permutations(n)
		after := make(map[[2]int]int)
		for _, o := range orders {
			if len(o) != n {
				t.Fatalf("n=%d: order %v", n, o)
			}
			seen := make(map[int]bool)
			for k, j := range o {
				if seen[j] || j < 0 || j >= n {
					t.Fatalf("n=%d: order %v is not a permutation", n, o)
				}
				seen[j] = true
				if k > 0 {
					after[[2]int{o[k-1], j}]++
				}
			}
		}
		want := -1
		for a := range n {
			for b := range n {
				if a == b {
					continue
				}
				if got := after[[2]int{a, b}]; want == -1 {
					want = got
				} else if got != want {
					t.Fatalf("n=%d: %d runs after %d %d times, want %d as every pair (%v)", n, b, a, got, want, orders)
				}
			}
		}
	}
}
