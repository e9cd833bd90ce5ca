package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"512", 512, true},
		{"4K", 4096, true},
		{"1G", 1 << 30, true},
		{"1t", 1 << 40, true},
		{"", 0, false},
		{"0", 0, false},
		{"1X", 0, false},
		{"99999999999T", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v", tt.in, got, err)
		}
	}
}

func TestParseKeyMap(t *testing.T) {
	m, err := parseKeyMap([]string{"1=0x4002", "7=0x0b"}, "NSID", parseStatus)
	if err != nil || m[1] != 0x4002 || m[7] != nvme.StatusInvalidNamespace {
		t.Fatalf("%v, %v", m, err)
	}
	for _, bad := range []string{"x=1", "1", "0=1", "1=zz", "1=0"} {
		if _, err := parseKeyMap([]string{bad}, "NSID", parseStatus); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	d, err := parseKeyMap([]string{"3=25ms"}, "NSID", time.ParseDuration)
	if err != nil || d[3] != 25*time.Millisecond {
		t.Fatalf("%v, %v", d, err)
	}
}

func TestTargetCommand(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := startTargetCmd(t, ctx, "--namespaces", "2", "--nqn", "nqn.2026-01.io.example:cli",
		"--zero-ids", "1=uuid+nguid", "--omit-ids", "2=all")
	// The listener speaks NVMe/TCP: an ICReq gets an ICResp.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	icreq := make([]byte, 128)
	icreq[2] = 128
	binary.LittleEndian.PutUint32(icreq[4:], 128)
	if _, err := nc.Write(icreq); err != nil {
		t.Fatal(err)
	}
	icresp := make([]byte, 128)
	if _, err := io.ReadFull(nc, icresp); err != nil || icresp[0] != 0x01 || binary.LittleEndian.Uint32(icresp[4:]) != 128 {
		t.Fatalf("ICResp % x, %v", icresp[:16], err)
	}
	// A host sees NSID 1 with an EUI64 only, NSID 2 with no identifier.
	out, stderr, err := run(t, "scan", "--addr", addr, "--nqn", "nqn.2026-01.io.example:cli", "-o", "json")
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, stderr)
	}
	var doc struct{ Devices []jsonDevice }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Devices) != 2 {
		t.Fatalf("scan output %v: %s", err, out)
	}
	d1, d2 := doc.Devices[0], doc.Devices[1]
	if d1.UUID != "" || d1.NGUID != "" || d1.EUI64 == "" || d1.WWID != "eui."+d1.EUI64 || string(d1.Aliases[0]) != "nvme-eui."+d1.EUI64 {
		t.Errorf("NSID 1: %+v", d1)
	}
	fallback := fmt.Sprintf("nvme.0000-%x-%x-00000002", d2.SerialNumber, d2.ModelNumber)
	if d2.UUID != "" || d2.NGUID != "" || d2.EUI64 != "" || d2.WWID != fallback || string(d2.Aliases[0]) != "nvme-"+fallback {
		t.Errorf("NSID 2: %+v, want wwid %s", d2, fallback)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("target command: %v", err)
	}
}

// startTargetCmd runs "complchain target" with args on 127.0.0.1:0 until
// ctx is done, and returns the address of its "nvme connect" line and
// the channel of the command's error.
func startTargetCmd(t *testing.T, ctx context.Context, args ...string) (string, <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	cmd := newRootCmd()
	cmd.SetArgs(append([]string{"target", "--listen", "127.0.0.1:0"}, args...))
	cmd.SetOut(pw)
	cmd.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() {
		done <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	var addr string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 10 && f[0] == "nvme" && f[1] == "connect" {
			if want := slices.Index(args, "--nqn"); want >= 0 && f[9] != args[want+1] {
				t.Errorf("connect line %q", sc.Text())
			}
			addr = net.JoinHostPort(f[5], f[7])
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		t.Fatalf("no nvme connect line: %v", <-done)
	}
	return addr, done
}

func TestTargetCommandErrors(t *testing.T) {
	for _, args := range [][]string{
		{"target", "--listen", "127.0.0.1:0", "--ns-size", "huge"},
		{"target", "--listen", "127.0.0.1:0", "--admin-queue-depth", "5000"},
		{"target", "--listen", "127.0.0.1:0", "--fail-nsid", "one=2"},
		{"target", "--listen", "127.0.0.1:0", "--omit-ids", "1=guid"},
		{"target", "--listen", "127.0.0.1:0", "--zero-ids", "1"},
		{"target", "--listen", "256.0.0.1:1"},
	} {
		cmd := newRootCmd()
		cmd.SetArgs(args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.ExecuteContext(context.Background()); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
