package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme/target/control"
)

// startControlledTarget runs "complchain target" with args and --control on a
// socket in t.TempDir until the test ends; it returns the socket path.
func startControlledTarget(t *testing.T, args ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctl")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	cmd := newRootCmd()
	cmd.SetArgs(append([]string{"target", "--listen", "127.0.0.1:0", "--control", path}, args...))
	cmd.SetOut(pw)
	cmd.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() {
		done <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("target command: %v", err)
		}
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			t.Errorf("control socket left behind: %v", err)
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "control socket "+path) {
			go io.Copy(io.Discard, pr)
			return path
		}
	}
	t.Fatal("no control socket line")
	return ""
}

func TestTargetCtl(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the target's cleanup
	const nqn = "nqn.2026-01.io.example:ctl"
	path := startControlledTarget(t, "--namespaces", "2", "--ns-size", "1M", "--nqn", nqn)
	ctl := func(args ...string) (string, error) {
		t.Helper()
		out, _, err := run(t, append([]string{"target", "ctl", "--control", path, "--nqn", nqn}, args...)...)
		return out, err
	}
	for _, tc := range []struct {
		args []string
		want string // in the output, or in the error
		fail bool
	}{
		{[]string{"attach", "--nsid", "5", "--size", "2M", "--block-size", "4096"}, "attached nsid 5: 2M (2097152 bytes), 4096-byte blocks", false},
		{[]string{"resize", "--nsid", "5", "--size", "8M"}, "resized nsid 5: 8M (8388608 bytes)", false},
		{[]string{"detach", "--nsid", "2"}, "detached nsid 2", false},
		{[]string{"allow-host", "nqn.2014-08.org.nvmexpress:uuid:1"}, "hosts nqn.2014-08.org.nvmexpress:uuid:1", false},
		{[]string{"list"}, "  nsid 5: 8M (8388608 bytes), 4096-byte blocks\nport 1 on 127.0.0.1:", false},
		{[]string{"disallow-host", "nqn.2014-08.org.nvmexpress:uuid:1"}, ": no host", false},
		{[]string{"disallow-host", "nqn.2014-08.org.nvmexpress:uuid:1"}, "404: hostnqn", true},
		{[]string{"attach", "--nsid", "1"}, "409: nsid", true},
		{[]string{"resize", "--nsid", "5", "--size", "1000"}, "400: size", true},
		{[]string{"resize", "--nsid", "5", "--size", "-1"}, "--size", true},
		{[]string{"detach", "--nsid", "2"}, "404: nsid", true},
		{[]string{"--nqn", "nqn.none", "detach", "--nsid", "1"}, "404: nqn", true},
		{[]string{"ana", "--portid", "1", "non-optimized"}, "port 1, ANA group 1: non-optimized", false},
		{[]string{"ana", "--portid", "1", "--grpid", "2", "inaccessible"}, "port 1, ANA group 2: inaccessible", false},
		{[]string{"ana", "--portid", "2", "optimized"}, "404: portid", true},
		{[]string{"ana", "--portid", "1", "fast"}, "400: state", true},
		{[]string{"list", "-o", "xml"}, `unknown output format "xml"`, true},
		{[]string{"attach"}, `"nsid" not set`, true},
	} {
		out, err := ctl(tc.args...)
		got := out
		if err != nil {
			got = err.Error()
		}
		if (err != nil) != tc.fail || !strings.Contains(got, tc.want) {
			t.Errorf("ctl %q: %q, error %v; want %q", tc.args, out, err, tc.want)
		}
	}
	out, err := ctl("list", "-o", "json")
	var doc struct {
		Subsystems []control.Subsystem
		Ports      []control.Port
	}
	if err != nil || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Subsystems) != 1 || len(doc.Ports) != 1 {
		t.Fatalf("list -o json: %v\n%s", err, out)
	}
	s := doc.Subsystems[0]
	if s.NQN != nqn || len(s.Namespaces) != 2 || s.Namespaces[1] != (control.Namespace{NSID: 5, Size: 8 << 20, BlockSize: 4096}) || s.AllowAnyHost || len(s.AllowedHosts) != 0 {
		t.Fatalf("list -o json: %+v", s)
	}
}

func TestTargetControlRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := run(t, "target", "--listen", "127.0.0.1:0", "--control", file)
	if err == nil || !strings.Contains(err.Error(), "--control") || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("--control on a regular file: %v", err)
	}
	_, _, err = run(t, "target", "ctl", "--control", filepath.Join(t.TempDir(), "none"), "list")
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("ctl without a target: %v", err)
	}
}

// A socket that accepts and never answers (a target stopped with
// SIGSTOP) fails the verb after --timeout, saying so, instead of hanging.
func TestTargetCtlTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := filepath.Join(t.TempDir(), "ctl")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c // held, never answered
		}
	}()
	_, _, err = run(t, "target", "ctl", "--control", path, "--timeout", "200ms", "list")
	if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Fatalf("ctl list against a socket that never answers: %v", err)
	}
	(<-accepted).Close()
}
