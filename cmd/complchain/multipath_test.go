package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/target"
)

// twoPorts starts a target with namespaces 1-3 (3 in ANA group 2) on two
// ports, group 2 inaccessible through the second, and returns the scan
// arguments that reach both ports.
func twoPorts(t *testing.T) (*target.Target, []string) {
	t.Helper()
	tg, err := target.New(target.Config{Namespaces: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	if err := tg.Attach(target.Namespace{NSID: 3, ANAGRPID: 2}); err != nil {
		t.Fatal(err)
	}
	var args []string
	for range 2 {
		addr, err := tg.Start(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--addr", addr, "--nqn", tg.NQN())
	}
	if err := tg.SetANAState(2, 2, nvme.ANAInaccessible); err != nil {
		t.Fatal(err)
	}
	return tg, args
}

// scan --multipath over two ports of one subsystem: one head per
// namespace, named as Linux names them, with a path through each
// controller and its ANA state.
func TestScanMultipath(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the target closes
	_, ports := twoPorts(t)
	out, stderr, err := run(t, append([]string{"scan", "--multipath"}, ports...)...)
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, stderr)
	}
	var nodes []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[2:] {
		f := strings.Fields(line)
		nodes = append(nodes, f[0]+" "+f[1])
	}
	if want := []string{"/dev/nvme0n1 /dev/ng0n1", "/dev/nvme0n2 /dev/ng0n2", "/dev/nvme0n3 /dev/ng0n3"}; !slices.Equal(nodes, want) {
		t.Fatalf("table rows %q, want %q", nodes, want)
	}

	out, stderr, err = run(t, append([]string{"scan", "--multipath", "-o", "json", "--verbose"}, ports...)...)
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, stderr)
	}
	var doc struct {
		Devices []struct {
			Subsystems []struct {
				Subsystem, SubsystemNQN string
				Controllers             []struct {
					Controller string
					Namespaces []struct{}
					Paths      []struct{ Path, ANAState string }
				}
				Namespaces []struct {
					NameSpace string
					NSID      uint32
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(doc.Devices) != 1 || len(doc.Devices[0].Subsystems) != 1 {
		t.Fatalf("shape: %s", out)
	}
	ss := doc.Devices[0].Subsystems[0]
	var got []string
	for _, c := range ss.Controllers {
		if len(c.Namespaces) != 0 {
			t.Errorf("%s lists namespaces of its own", c.Controller)
		}
		for _, p := range c.Paths {
			got = append(got, c.Controller+" "+p.Path+" "+p.ANAState)
		}
	}
	want := []string{"nvme0 nvme0c0n1 optimized", "nvme0 nvme0c0n2 optimized", "nvme0 nvme0c0n3 optimized",
		"nvme1 nvme0c1n1 optimized", "nvme1 nvme0c1n2 optimized", "nvme1 nvme0c1n3 inaccessible"}
	if ss.Subsystem != "nvme-subsys0" || !slices.Equal(got, want) {
		t.Fatalf("%s paths %q, want %q", ss.Subsystem, got, want)
	}
	var heads []string
	for _, ns := range ss.Namespaces {
		heads = append(heads, ns.NameSpace)
	}
	if !slices.Equal(heads, []string{"nvme0n1", "nvme0n2", "nvme0n3"}) {
		t.Fatalf("heads %q", heads)
	}
}

// --naming persistent keeps a namespace's head number across runs while
// others go and come; a new namespace takes the smallest number never
// given.
func TestScanMultipathPersistent(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the target closes
	tg, ports := twoPorts(t)
	file := filepath.Join(t.TempDir(), "names.json")
	heads := func(naming string) map[string]string { // NSID → head
		t.Helper()
		args := append([]string{"scan", "--multipath", "--naming", naming, "-o", "json"}, ports...)
		if naming == "persistent" {
			args = append(args, "--names-file", file)
		}
		out, stderr, err := run(t, args...)
		if err != nil {
			t.Fatalf("scan: %v\n%s", err, stderr)
		}
		var doc struct {
			Devices []struct {
				NameSpace  int
				DevicePath string
			}
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, d := range doc.Devices {
			m[strings.TrimPrefix(d.DevicePath, "/dev/")] = string(rune('0' + d.NameSpace))
		}
		return m
	}
	if got := heads("persistent"); len(got) != 3 || got["nvme0n1"] != "1" || got["nvme0n3"] != "3" {
		t.Fatalf("first run: %v", got)
	}
	if err := tg.Detach(1); err != nil {
		t.Fatal(err)
	}
	if err := tg.Attach(target.Namespace{NSID: 7}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"nvme0n2": "2", "nvme0n3": "3", "nvme0n4": "7"}
	if got := heads("persistent"); !maps.Equal(got, want) {
		t.Fatalf("after NSID 1 went and 7 came: %v, want %v", got, want)
	}
	if got := heads("index"); !maps.Equal(got, map[string]string{"nvme0n1": "2", "nvme0n2": "3", "nvme0n3": "7"}) {
		t.Fatalf("index naming: %v", got)
	}
	b, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(b), `"version": 1`) {
		t.Fatalf("names file: %s %v", b, err)
	}
	for _, args := range [][]string{
		{"--multipath", "--naming", "persistent"},
		{"--names-file", file},
		{"--multipath", "--naming", "nsid", "--names-file", file},
		{"--multipath", "--naming", "uuid"},
	} {
		if _, _, err := run(t, append(append([]string{"scan"}, ports...), args...)...); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	os.WriteFile(file, []byte("{"), 0o644)
	if _, _, err := run(t, append([]string{"scan", "--multipath", "--naming", "persistent", "--names-file", file}, ports...)...); err == nil ||
		!strings.Contains(err.Error(), file) {
		t.Errorf("corrupt names file: %v", err)
	}
}

// scan --multipath --watch: a namespace detached from the subsystem
// leaves both controllers, and its head is removed once, when its last
// path goes; a namespace attached joins one new head through both.
func TestScanMultipathWatch(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the target closes
	tg, ports := twoPorts(t)
	expect, stop := watch(t, append([]string{"scan", "--multipath", "--watch"}, ports...)...)
	defer stop()
	expect("/dev/nvme0n3") // the table's last row
	if err := tg.Detach(2); err != nil {
		t.Fatal(err)
	}
	seen := expect("removed path nvme0c0n2", "removed path nvme0c1n2", "removed /dev/nvme0n2 (NSID 2)")
	if n := count(seen, "removed /dev/nvme0n2"); n != 1 {
		t.Fatalf("head removed %d times: %q", n, seen)
	}
	if err := tg.Attach(target.Namespace{NSID: 9}); err != nil {
		t.Fatal(err)
	}
	seen = expect("added   path nvme0c0n2", "added   path nvme0c1n2", "added   /dev/nvme0n2 (NSID 9)")
	if n := count(seen, "added   /dev/"); n != 1 {
		t.Fatalf("head added %d times: %q", n, seen)
	}
}

// scan --multipath --watch against a namespace hidden from one port,
// then the other, then shown again: the head keeps its name while a path
// is left, goes once with the last, and comes back named as the naming
// says: its old number under persistent, the smallest free under index
// (taken meanwhile by a new namespace).
func TestScanMultipathWatchVisibility(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the targets close
	tests := []struct {
		naming  string
		newName string // of NSID 9, attached while NSID 1 is hidden everywhere
		back    string // of NSID 1 shown again
	}{
		{"persistent", "nvme0n4", "nvme0n1"},
		{"index", "nvme0n1", "nvme0n4"},
	}
	for _, tt := range tests {
		t.Run(tt.naming, func(t *testing.T) {
			tg, ports := twoPorts(t)
			args := append([]string{"scan", "--multipath", "--watch", "--naming", tt.naming}, ports...)
			if tt.naming == "persistent" {
				args = append(args, "--names-file", filepath.Join(t.TempDir(), "names.json"))
			}
			expect, stop := watch(t, args...)
			defer stop()
			expect("/dev/nvme0n3") // the table's last row
			if err := tg.SetVisible(1, 2, false); err != nil {
				t.Fatal(err)
			}
			seen := expect("removed path nvme0c1n1")
			if err := tg.SetVisible(1, 1, false); err != nil {
				t.Fatal(err)
			}
			seen = append(seen, expect("removed path nvme0c0n1", "removed /dev/nvme0n1 (NSID 1)")...)
			if n := count(seen, "removed /dev/"); n != 1 {
				t.Fatalf("heads removed %d times: %q", n, seen)
			}
			if i, j := index(seen, "removed path nvme0c0n1"), index(seen, "removed /dev/nvme0n1"); j != i-1 { // the head, then its last path
				t.Fatalf("head not removed with its last path: %q", seen)
			}
			if err := tg.Attach(target.Namespace{NSID: 9}); err != nil {
				t.Fatal(err)
			}
			expect("added   /dev/" + tt.newName + " (NSID 9)")
			for _, port := range []uint16{2, 1} {
				if err := tg.SetVisible(1, port, true); err != nil {
					t.Fatal(err)
				}
			}
			s := strings.TrimPrefix(tt.back, "nvme0")
			seen = expect("added   path nvme0c1"+s, "added   path nvme0c0"+s, "added   /dev/"+tt.back+" (NSID 1)")
			if n := count(seen, "added   /dev/"); n != 1 {
				t.Fatalf("heads added %d times: %q", n, seen)
			}
		})
	}
}

// watch runs the command of args until stop, which fails the test if it
// fails. expect reads its output lines until every one of want starts a
// line, and returns the lines read; it fails the test if the output ends
// or want is not seen within 10 s.
func watch(t *testing.T, args ...string) (expect func(want ...string) []string, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(pw)
	cmd.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() {
		done <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect = func(want ...string) []string {
		t.Helper()
		timeout := time.NewTimer(10 * time.Second)
		defer timeout.Stop()
		var seen []string
		for !contains(seen, want) {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("output ended; saw %q", seen)
				}
				seen = append(seen, l)
			case <-timeout.C:
				t.Fatalf("saw %q, want %q", seen, want)
			}
		}
		return seen
	}
	stop = func() {
		t.Helper()
		cancel()
		go func() {
			for range lines {
			}
		}()
		if err := <-done; err != nil {
			t.Errorf("scan: %v", err)
		}
	}
	return expect, stop
}

// index returns the index of the first line of seen starting with prefix,
// or -1.
func index(seen []string, prefix string) int {
	return slices.IndexFunc(seen, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

// contains reports whether every string of want starts a line of seen.
func contains(seen, want []string) bool {
	for _, w := range want {
		if !slices.ContainsFunc(seen, func(l string) bool { return strings.HasPrefix(l, w) }) {
			return false
		}
	}
	return true
}

func count(seen []string, prefix string) int {
	n := 0
	for _, l := range seen {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}
