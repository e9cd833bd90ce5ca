package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/target"
)

// The host identity the tests' /etc holds.
const (
	testHostNQN = "nqn.2014-08.org.nvmexpress:uuid:78d3e2bd-d06e-4534-b149-0832aa110cff"
	testHostID  = "7606632c-1966-40e1-95e8-7f72b2825e5c"
)

var testIdentityRoot = fstest.MapFS{
	host.HostNQNFile: {Data: []byte(testHostNQN + "\n")},
	host.HostIDFile:  {Data: []byte(testHostID + "\n")},
}

// logBuffer collects a target's log records as JSON lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// created returns the attributes of each "controller created" record.
func (l *logBuffer) created(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var recs []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.b.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["msg"] == "controller created" && r["subnqn"] != "nqn.2014-08.org.nvmexpress.discovery" {
			recs = append(recs, r)
		}
	}
	return recs
}

// startLoggedTarget starts a target serving one subsystem with two
// namespaces that allows the hosts given (any if none), and whose log the
// test reads.
func startLoggedTarget(t *testing.T, allowed ...string) (tg *target.Target, addr string, log *logBuffer) {
	t.Helper()
	log = new(logBuffer)
	tg, err := target.New(target.Config{
		Subsystems: []target.SubsystemConfig{{NQN: target.DefaultNQN, Namespaces: 2, AllowedHosts: allowed}},
		Logger:     slog.New(slog.NewJSONHandler(log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, err = tg.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg, addr, log
}

// The host identity and keep alive timeout the flags choose reach the
// target in Connect, whichever way the address is given.
func TestScanHostIdentityOnTheWire(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the target's Close
	tg, addr, log := startLoggedTarget(t)
	traddr, trsvcid, _ := net.SplitHostPort(addr)
	const givenID = "123e4567-e89b-12d3-a456-426614174000"
	tests := []struct {
		name     string
		args     []string
		wantNQN  string
		wantKATO time.Duration
	}{
		{"Files", []string{"--addr", addr}, testHostNQN, 10 * time.Second},
		{"Given", []string{"-a", traddr, "-s", trsvcid, "-q", "nqn.2026-01.io.example:host", "-I", givenID, "-k", "30"},
			"nqn.2026-01.io.example:host", 30 * time.Second},
		{"GivenIDOnly", []string{"--traddr", traddr, "--trsvcid", trsvcid, "--hostid", givenID, "--keep-alive-tmo", "0"},
			testHostNQN, 0},
		{"Digests", []string{"--addr", addr, "-g", "-G"}, testHostNQN, 10 * time.Second},
		{"DigestsBoth", []string{"--addr", addr, "--digests", "-o", "normal"}, testHostNQN, 10 * time.Second},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"scan", "-n", tg.NQN()}, tt.args...)
			out, stderr, err := run(t, args...)
			if err != nil {
				t.Fatalf("scan: %v\n%s", err, stderr)
			}
			if !strings.Contains(out, "/dev/nvme0n2 ") {
				t.Fatalf("scan output:\n%s", out)
			}
			created := log.created(t)
			if len(created) != i+1 {
				t.Fatalf("%d controllers created, want %d", len(created), i+1)
			}
			if c := created[i]; c["hostnqn"] != tt.wantNQN || c["kato"] != float64(tt.wantKATO) {
				t.Errorf("Connect with host NQN %v, KATO %v ns; want %s, %v", c["hostnqn"], c["kato"], tt.wantNQN, tt.wantKATO)
			}
		})
	}
}

// --verbose names the host identity and its sources on stderr, in scan
// and bench.
func TestScanVerboseIdentity(t *testing.T) {
	defer goleak.VerifyNone(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-v"}, "host NQN " + testHostNQN + " (/etc/nvme/hostnqn), host ID " + testHostID + " (/etc/nvme/hostid)\n"},
		{[]string{"--verbose", "-q", "nqn.2026-01.io.example:host"}, "host NQN nqn.2026-01.io.example:host (given), host ID " + testHostID + " (/etc/nvme/hostid)\n"},
		{[]string{"-v", "-I", "123E4567-E89B-12D3-A456-426614174000"}, "host NQN " + testHostNQN + " (/etc/nvme/hostnqn), host ID 123e4567-e89b-12d3-a456-426614174000 (given)\n"},
	}
	for _, tt := range tests {
		_, stderr, err := run(t, append([]string{"scan", "--namespaces", "1", "--rtt", "0s"}, tt.args...)...)
		if err != nil {
			t.Fatalf("scan %v: %v\n%s", tt.args, err, stderr)
		}
		if !strings.HasPrefix(stderr, tt.want) {
			t.Errorf("scan %v: stderr %q, want it to start with %q", tt.args, stderr, tt.want)
		}
	}
	_, stderr, err := run(t, "scan", "--namespaces", "1", "--rtt", "0s")
	if err != nil || strings.Contains(stderr, "host NQN") {
		t.Errorf("scan without --verbose: %v, stderr %q names the host", err, stderr)
	}
	_, stderr, err = run(t, "bench", "-v", "--rtts", "0s", "--namespaces", "1", "--modes", "ordered", "--floor=false", "--repeat", "1", "--min-time", "0", "-o", "json")
	if want := tests[0].want; err != nil || !strings.HasPrefix(stderr, want) {
		t.Errorf("bench -v: %v, stderr %q, want it to start with %q", err, stderr, want)
	}
}

// Flags that contradict each other or hold invalid values are errors
// before anything connects, in every command that connects.
func TestConnFlagErrors(t *testing.T) {
	defer goleak.VerifyNone(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "127.0.0.1:4420", "--traddr", "127.0.0.1"}, "--addr and --traddr/--trsvcid"},
		{[]string{"--addr", "127.0.0.1:4420", "-s", "4420"}, "--addr and --traddr/--trsvcid"},
		{[]string{"--trsvcid", "4420"}, "--trsvcid needs --traddr"},
		{[]string{"-a", "127.0.0.1", "-s", "http"}, `--trsvcid "http": want a TCP port`},
		{[]string{"-a", "127.0.0.1", "-s", "65536"}, `--trsvcid "65536"`},
		{[]string{"-a", "127.0.0.1", "-s", "0"}, `--trsvcid "0"`},
		{[]string{"-k", "-1"}, "--keep-alive-tmo -1: want 0 to 4294967 seconds"},
		{[]string{"-k", "4294968"}, "--keep-alive-tmo 4294968"},
		{[]string{"-q", "host1"}, `invalid host identity: host NQN: does not start with "nqn."`},
		{[]string{"-q", "nqn.x\x1b[2J"}, "byte 0x1b at offset 5 is not printable ASCII"},
		{[]string{"-I", "42"}, "invalid host identity: host ID: nvme: not a UUID"},
		{[]string{"-t", "rdma", "-a", "192.0.2.1"}, `--transport "rdma": only tcp is supported`},
		{[]string{"-o", "xml"}, `unknown output format "xml" (want table, normal or json)`},
	}
	for _, sub := range []string{"scan", "bench"} {
		for _, tt := range tests {
			if sub == "bench" && tt.args[0] == "-o" {
				continue // bench has its own output formats
			}
			_, _, err := run(t, append([]string{sub}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s %q: %v, want an error saying %q", sub, tt.args, err, tt.want)
			}
		}
	}
}

// A target that allows only the host of /etc/nvme/hostnqn admits the
// default identity and refuses another, naming it; an unknown subsystem
// is refused naming SUBNQN.
func TestScanConnectRefused(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the target's Close
	tg, addr, _ := startLoggedTarget(t, testHostNQN)
	const stranger = "nqn.2026-01.io.example:stranger"
	tests := []struct {
		name string
		args []string
		want string // in the error; "" for success
	}{
		{"Allowed", []string{"-n", tg.NQN()}, ""},
		{"AllowedByDiscovery", nil, ""},
		{"OtherHost", []string{"-n", tg.NQN(), "-q", stranger},
			`host NQN "` + stranger + `" not allowed by subsystem "` + tg.NQN() + `" (Connect Invalid Host (0x184))`},
		{"OtherHostDiscovers", []string{"-q", stranger}, "no NVM subsystem port to scan"},
		{"UnknownSubsystem", []string{"-n", "nqn.2026-01.io.example:nope"},
			`controller refused SUBNQN "nqn.2026-01.io.example:nope" (Connect Invalid Parameters (0x182))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := run(t, append([]string{"scan", "--addr", addr}, tt.args...)...)
			switch {
			case tt.want == "" && (err != nil || !strings.Contains(out, "/dev/nvme0n2 ")):
				t.Fatalf("scan: %v\n%s%s", err, out, stderr)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("scan: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// The flags map to the host's configuration as nvme-cli's do.
func TestConnFlagsConfig(t *testing.T) {
	fileID, _ := nvme.ParseUUID(testHostID)
	tests := []struct {
		args         []string
		addr         string
		hdgst, ddgst bool
		kato         time.Duration
		nqn          string
	}{
		{nil, "", false, false, 10 * time.Second, testHostNQN},
		{[]string{"-g"}, "", true, false, 10 * time.Second, testHostNQN},
		{[]string{"-G"}, "", false, true, 10 * time.Second, testHostNQN},
		{[]string{"--digests"}, "", true, true, 10 * time.Second, testHostNQN},
		{[]string{"-k", "0"}, "", false, false, -1, testHostNQN},
		{[]string{"-k", "5"}, "", false, false, 5 * time.Second, testHostNQN},
		{[]string{"-a", "192.0.2.1"}, "192.0.2.1:8009", false, false, 10 * time.Second, testHostNQN},
		{[]string{"-a", "192.0.2.1", "-n", "nqn.2026-01.io.example:s"}, "192.0.2.1:4420", false, false, 10 * time.Second, testHostNQN},
		{[]string{"-a", "fe80::1", "-s", "4421"}, "[fe80::1]:4421", false, false, 10 * time.Second, testHostNQN},
		{[]string{"-t", "tcp", "-a", "192.0.2.1", "-s", "4420", "-n", "nqn.2026-01.io.example:s"}, "192.0.2.1:4420", false, false, 10 * time.Second, testHostNQN},
		{[]string{"--addr", "192.0.2.1:4420"}, "192.0.2.1:4420", false, false, 10 * time.Second, testHostNQN},
		{[]string{"-q", "nqn.2026-01.io.example:h"}, "", false, false, 10 * time.Second, "nqn.2026-01.io.example:h"},
	}
	for _, tt := range tests {
		var f scanFlags
		cmd := &cobra.Command{}
		f.registerTarget(cmd)
		if err := cmd.ParseFlags(tt.args); err != nil {
			t.Fatal(err)
		}
		if err := f.resolve(io.Discard); err != nil {
			t.Fatalf("%q: %v", tt.args, err)
		}
		cfg := f.hostConfig()
		if strings.Join(f.addrs, ",") != tt.addr || cfg.HeaderDigest != tt.hdgst || cfg.DataDigest != tt.ddgst || cfg.KATO != tt.kato || cfg.HostNQN != tt.nqn || cfg.HostID != fileID {
			t.Errorf("%q: addresses %q, %+v", tt.args, f.addrs, cfg)
		}
	}
}
