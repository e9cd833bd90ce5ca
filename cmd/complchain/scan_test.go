package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// run executes the CLI with args and returns its stdout and stderr.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestScanDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	out, stderr, err := run(t, "scan", "--rtt", "0s")
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 102 {
		t.Fatalf("%d lines, want a header, a rule and 100 namespaces:\n%s", len(lines), out)
	}
	// nvme-cli lists devices in byte order of their names: nvme0n1,
	// nvme0n10, nvme0n100, nvme0n11, …
	want := make([]string, 100)
	for i := range want {
		want[i] = fmt.Sprintf("nvme0n%d", i+1)
	}
	slices.Sort(want)
	for i, line := range lines[2:] {
		f := strings.Fields(line)
		var n int
		fmt.Sscanf(want[i], "nvme0n%d", &n)
		if f[0] != "/dev/"+want[i] || !strings.Contains(line, fmt.Sprintf(" 0x%x ", n)) {
			t.Fatalf("row %d: %q, want /dev/%s with NSID 0x%x", i+1, line, want[i], n)
		}
	}
	if !strings.Contains(stderr, "ordered scan of") || !strings.Contains(stderr, "100 added") {
		t.Fatalf("summary %q", stderr)
	}
}

func TestScanJSONAndTrace(t *testing.T) {
	defer goleak.VerifyNone(t)
	tracePath := filepath.Join(t.TempDir(), "trace.json")
	out, stderr, err := run(t, "scan", "--namespaces", "7", "--rtt", "0s", "--mode", "async", "--naming", "nsid", "-o", "json", "--trace", tracePath)
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, stderr)
	}
	var doc struct {
		Devices []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(doc.Devices) != 7 {
		t.Fatalf("%d devices, want 7", len(doc.Devices))
	}
	// nvme-cli's keys, as a real "nvme list -o json" printed them.
	for _, key := range []string{"NameSpace", "DevicePath", "GenericPath", "Firmware", "ModelNumber", "SerialNumber", "UsedBytes", "MaximumLBA", "PhysicalSize", "SectorSize"} {
		if _, ok := doc.Devices[0][key]; !ok {
			t.Fatalf("device lacks key %q: %v", key, doc.Devices[0])
		}
	}
	for _, d := range doc.Devices {
		if d["DevicePath"] != fmt.Sprintf("/dev/nvme0n%v", d["NameSpace"]) {
			t.Fatalf("nsid naming: %v is at %v", d["NameSpace"], d["DevicePath"])
		}
	}
	b, err := os.ReadFile(tracePath)
	if err != nil || !json.Valid(b) || !bytes.Contains(b, []byte(`"nsid 7"`)) {
		t.Fatalf("trace file: %v %.200s", err, b)
	}
}

func TestScanErrors(t *testing.T) {
	defer goleak.VerifyNone(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"scan", "--addr", closed, "--nqn", "nqn.x"}, closed},
		{[]string{"scan", "--mode", "fast"}, `unknown scan mode "fast"`},
		{[]string{"scan", "--naming", "uuid"}, `unknown naming "uuid"`},
		{[]string{"scan", "-o", "xml"}, `unknown output format "xml"`},
		{[]string{"bench", "--rtts", "soon"}, `--rtts: "soon"`},
	}
	for _, tt := range tests {
		_, _, err := run(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line containing %q", tt.args, err, tt.want)
		}
	}
}

func TestBenchSmall(t *testing.T) {
	defer goleak.VerifyNone(t)
	cells := benchJSON(t, "--rtts", "0s,1ms", "--namespaces", "10", "--repeat", "2", "--min-time", "0")
	if len(cells) != 6 {
		t.Fatalf("%d cells, want 2 RTTs × 3 modes", len(cells))
	}
	for _, c := range cells {
		if len(c.Runs) != 2 || c.Namespaces != 10 || c.Min > c.Median || c.Median > c.Max {
			t.Fatalf("cell %+v", c)
		}
		if c.RTT > 0 && c.Median < c.Bound {
			t.Fatalf("%s at %v: median %v below the bound %v", c.Mode, c.RTT, c.Median, c.Bound)
		}
	}
}

// With --min-time, a cell is repeated until its runs add up to it.
func TestBenchMinTime(t *testing.T) {
	defer goleak.VerifyNone(t)
	runs := benchJSON(t, "--rtts", "1ms", "--modes", "ordered", "--namespaces", "10", "--repeat", "1", "--min-time", "20ms")[0].Runs
	var sum time.Duration
	for _, r := range runs {
		sum += r
	}
	// Runs repeat until they add up to --min-time, and stop as soon as
	// they do (on a loaded machine one run may be enough).
	if n := len(runs); n < 1 || sum < 20*time.Millisecond || sum-runs[n-1] >= 20*time.Millisecond {
		t.Fatalf("%d runs adding up to %v for --min-time 20ms: %v", n, sum, runs)
	}
}

// benchJSON runs bench with args and -o json and returns its cells.
func benchJSON(t *testing.T, args ...string) []benchCell {
	t.Helper()
	out, stderr, err := run(t, append(append([]string{"bench"}, args...), "-o", "json")...)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	var doc struct {
		Cells []benchCell `json:"cells"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Cells
}
