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
	}
	for _, tt := range tests {
		_, _, err := run(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line containing %q", tt.args, err, tt.want)
		}
	}
}
