package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/internal/peertest"
	"github.com/complchain/complchain/iscsi"
	"github.com/complchain/complchain/nvme/fabric"
	"github.com/complchain/complchain/nvme/target"
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
		{[]string{"scan", "--addr", closed, "--addr", closed, "--nqn", "a", "--nqn", "b", "--nqn", "c"}, "3 --nqn for 2 --addr"},
		{[]string{"scan", "--discover", "nohost"}, `address "nohost": want host:port`},
		{[]string{"scan", "--discover", closed, "--map-addr", "x"}, `--map-addr "x"`},
		{[]string{"scan", "--discover", closed, "--map-addr", "10.0.0.1:4420=x"}, `--map-addr "10.0.0.1:4420=x"`},
		{[]string{"scan", "--controllers", "0"}, "--controllers 0"},
		{[]string{"scan", "--max-controllers", "0"}, "--max-controllers 0"},
		{[]string{"scan", "--naming", "uuid"}, `unknown naming "uuid"`},
		{[]string{"scan", "-o", "xml"}, `unknown output format "xml"`},
		{[]string{"scan", "--nqn", "nqn.x"}, "--nqn names the subsystem of an --addr"},
		{[]string{"scan", "--discover", closed, "--nqn", "nqn.x"}, "--nqn names the subsystem of an --addr"},
		{[]string{"scan", "--addr", closed, "--nqn", "nqn.x", "--controllers", "3"}, "--controllers sets up the embedded targets"},
		{[]string{"scan", "--discover", closed, "--controllers", "1"}, "--controllers sets up the embedded targets"},
		{[]string{"scan", "--addr", closed, "--namespaces", "5"}, "--namespaces sets up the embedded targets"},
		{[]string{"scan", "--discover", closed, "--rtt", "1ms"}, "--rtt sets up the embedded targets"},
		{[]string{"scan", "--map-addr", "10.0.0.1:4420=127.0.0.1:4420"}, "--map-addr applies to the ports discovery logs list"},
		{[]string{"scan", "--map-addr", "x"}, "--map-addr applies"},
		{[]string{"scan", "--addr", closed, "--use-discovery-addr"}, "--use-discovery-addr applies"},
	}
	for _, tt := range tests {
		_, _, err := run(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line containing %q", tt.args, err, tt.want)
		}
	}
}

// --controllers N scans N embedded subsystems: every namespace of every
// controller in the table, the fabric in the verbose JSON.
func TestScanControllers(t *testing.T) {
	defer goleak.VerifyNone(t)
	out, stderr, err := run(t, "scan", "--controllers", "3", "--namespaces", "2", "--rtt", "0s")
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, stderr)
	}
	var nodes []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[2:] {
		nodes = append(nodes, strings.Fields(line)[0])
	}
	want := []string{"/dev/nvme0n1", "/dev/nvme0n2", "/dev/nvme1n1", "/dev/nvme1n2", "/dev/nvme2n1", "/dev/nvme2n2"}
	if !slices.Equal(nodes, want) || !strings.Contains(stderr, "3 of 3 controllers up, 6 namespaces") {
		t.Fatalf("nodes %q, want %q; stderr %s", nodes, want, stderr)
	}
	out, stderr, err = run(t, "scan", "--controllers", "2", "--namespaces", "2", "--rtt", "0s", "-o", "json", "--verbose")
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, stderr)
	}
	var doc struct {
		Devices []struct {
			HostNQN, HostID string
			Subsystems      []struct {
				Subsystem, SubsystemNQN string
				Controllers             []struct {
					Controller, Transport, Address string
					Namespaces                     []struct {
						NameSpace, Generic string
						NSID               uint32
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(doc.Devices) != 1 || len(doc.Devices[0].Subsystems) != 2 || doc.Devices[0].HostNQN != testHostNQN || doc.Devices[0].HostID != testHostID {
		t.Fatalf("shape: %s", out)
	}
	for i, ss := range doc.Devices[0].Subsystems {
		c := ss.Controllers[0]
		if ss.Subsystem != fmt.Sprintf("nvme-subsys%d", i) || c.Controller != fmt.Sprintf("nvme%d", i) || c.Transport != "tcp" ||
			!strings.HasPrefix(c.Address, "traddr=127.0.0.1,trsvcid=") || len(c.Namespaces) != 2 || c.Namespaces[1].NameSpace != fmt.Sprintf("nvme%dn2", i) {
			t.Errorf("subsystem %d: %+v", i, ss)
		}
	}
}

// A port that fails is reported on one line naming address and NQN; the
// others are scanned and named as if it were absent.
func TestScanPortFails(t *testing.T) {
	defer goleak.VerifyNone(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	tg, err := target.New(target.Config{Namespaces: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	addr, err := tg.Start(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := run(t, "scan", "--addr", closed, "--nqn", "nqn.2026-01.io.test:gone", "--addr", addr, "--nqn", tg.NQN(), "-o", "json")
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, `"DevicePath": "/dev/nvme0n2"`) {
		t.Errorf("output %s", out)
	}
	var failed []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "failed: ") {
			failed = append(failed, line)
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[0], closed) || !strings.Contains(failed[0], "nqn.2026-01.io.test:gone") {
		t.Errorf("failures %q", failed)
	}
}

// The hint about advertised addresses is given only for a failed port
// from a discovery log that no flag redirects.
func TestAdvertisedFailed(t *testing.T) {
	direct := fabric.Port{Addr: "127.0.0.1:4420", NQN: "nqn.a"}
	listed := fabric.Port{Addr: "10.0.2.15:4420", NQN: "nqn.a", Advertised: "10.0.2.15:4420", From: "127.0.0.1:8009"}
	failed := func(p fabric.Port) []error {
		return []error{&fabric.PortError{Addr: p.Addr, NQN: p.NQN, Err: errors.New("refused")}}
	}
	ports := []fabric.Port{direct, listed}
	tests := []struct {
		f      scanFlags
		failed []error
		want   bool
	}{
		{scanFlags{}, nil, false},
		{scanFlags{}, failed(direct), false},
		{scanFlags{}, failed(listed), true},
		{scanFlags{useDiscoveryAddr: true}, failed(listed), false},
		{scanFlags{mapAddr: []string{"10.0.2.15:4420=127.0.0.1:4420"}}, failed(listed), false},
	}
	for i, tt := range tests {
		if got := tt.f.advertisedFailed(ports, tt.failed); got != tt.want {
			t.Errorf("case %d: %v, want %v", i, got, tt.want)
		}
	}
}

// A fabric of many failing ports (or a discovery log of many unusable
// entries) is reported in a bounded number of lines, the rest counted.
func TestScanManyFailures(t *testing.T) {
	defer goleak.VerifyNone(t)
	const n = 40
	subs := make([]target.SubsystemConfig, n)
	for i := range subs {
		subs[i] = target.SubsystemConfig{NQN: fmt.Sprintf("nqn.2026-01.io.test:s%02d", i), Namespaces: 1}
	}
	tg, err := target.New(target.Config{Subsystems: subs})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	addr, err := tg.Start(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	const up = 2
	out, stderr, err := run(t, "scan", "--discover", addr, "--max-controllers", fmt.Sprint(up))
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, stderr)
	}
	if got := strings.Count(out, "/dev/nvme"); got != up {
		t.Errorf("%d namespaces listed, want %d:\n%s", got, up, out)
	}
	var failed []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "failed: ") {
			failed = append(failed, line)
		}
	}
	more := fmt.Sprintf("failed: %d more, not shown", n-up-maxReported)
	if len(failed) != maxReported+1 || !strings.Contains(failed[0], "nqn.2026-01.io.test:s02") || failed[maxReported] != more {
		t.Errorf("failures %q, want %d and %q", failed, maxReported, more)
	}
}

// A discovery address or port that is not NVMe/TCP (an iSCSI portal, a
// server that answers garbage) fails within --timeout, naming the
// address and NQN.
func TestScanNotNVMe(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the HTTP server's end
	portal := iscsi.NewTarget(iscsi.TargetConfig{})
	defer portal.Close()
	iscsiAddr, err := portal.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := peertest.Serve(t, func(c net.Conn) { // an HTTP server's answer to anything
		c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
	})
	tests := []struct {
		args      []string
		wantErr   string
		wantLines []string // on stderr
	}{
		{[]string{"--discover", iscsiAddr}, "no NVM subsystem port", []string{"discovery: nqn.2014-08.org.nvmexpress.discovery at " + iscsiAddr + ": no answer within 500ms"}},
		{[]string{"--addr", iscsiAddr, "--nqn", "nqn.x"}, "nqn.x at " + iscsiAddr + ": no answer within 500ms", nil},
		{[]string{"--discover", httpAddr}, "no NVM subsystem port", []string{"discovery: nqn.2014-08.org.nvmexpress.discovery at " + httpAddr + ": "}},
		{[]string{"--addr", httpAddr, "--nqn", "nqn.x"}, "nqn.x at " + httpAddr + ": ", nil},
	}
	for _, tt := range tests {
		_, stderr, err := run(t, append([]string{"scan", "--timeout", "500ms"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.wantErr)
		}
		for _, w := range tt.wantLines {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q, want %q", tt.args, stderr, w)
			}
		}
	}
}

// A port given twice, or given and found by discovery, under one spelling
// or another, is scanned once: one controller, the repeat reported.
func TestScanDuplicatePorts(t *testing.T) {
	defer goleak.VerifyNone(t)
	tg, err := target.New(target.Config{Namespaces: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	addr, err := tg.Start(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	mapped := net.JoinHostPort("::ffff:127.0.0.1", port)
	tests := [][]string{
		{"--addr", addr, "--addr", addr, "--nqn", tg.NQN()},
		{"--addr", addr, "--addr", mapped, "--nqn", tg.NQN()},
		{"--discover", addr, "--addr", addr, "--nqn", tg.NQN()},
		{"--discover", addr, "--addr", mapped},
	}
	for _, args := range tests {
		out, stderr, err := run(t, append([]string{"scan"}, args...)...)
		if err != nil {
			t.Errorf("%v: %v\n%s", args, err, stderr)
			continue
		}
		if n := strings.Count(out, "/dev/nvme"); n != 1 || !strings.Contains(out, "/dev/nvme0n1") {
			t.Errorf("%v: %d namespaces, want nvme0n1 alone:\n%s", args, n, out)
		}
		if !strings.Contains(stderr, "duplicate") {
			t.Errorf("%v: stderr %q, want the duplicate reported", args, stderr)
		}
	}
}
