//go:build linuxvm

package linuxvm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scanmode"
)

// script runs one of the scripts beside this file and returns its
// standard output.
func script(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "./"+name, args...)
	cmd.Env = append(os.Environ(), "KERNEL="+kernel())
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s\n%s", name, args, err, out, stderr.Bytes())
	}
	return string(out)
}

// kernel is the version of Linux to boot: LINUXVM_KERNEL, 6.1 or 6.12.
func kernel() string {
	if k := os.Getenv("LINUXVM_KERNEL"); k != "" {
		return k
	}
	return "6.1"
}

// section returns the lines a guest printed between "=== BEGIN name" and
// "=== END name".
func section(t *testing.T, out, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "=== BEGIN "+name+"\n")
	body, _, ok2 := strings.Cut(rest, "=== END "+name)
	if !ok || !ok2 {
		t.Fatalf("no %s section in the guest's output:\n%s", name, out)
	}
	return body
}

// fields returns the "key value" lines of a section as a map.
func fields(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, " "); ok {
			m[k] = v
		}
	}
	return m
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

const (
	nqn       = "nqn.2026-01.io.complchain:linuxvm"
	nsSize    = 64 << 20
	slba      = 2048 // 512-byte LBA of the guest's writes (boot-host.sh -s)
	ioBlocks  = 16   // 4 KiB blocks written (boot-host.sh -b)
	ioOffset  = slba * 512
	ioLength  = ioBlocks * 4096
	zeroBytes = 8192 // the first 4 KiB Write Zeroes, the next deallocated
)

// serveFiles serves namespaces 1 and 2 from files in dir on port until
// the test calls the returned stop function.
func serveFiles(t *testing.T, dir string, port int) (stop func()) {
	t.Helper()
	tg, err := target.New(target.Config{NQN: nqn})
	if err != nil {
		t.Fatal(err)
	}
	var files []*target.FileBackend
	for nsid := uint32(1); nsid <= 2; nsid++ {
		f, err := target.CreateFile(filepath.Join(dir, fmt.Sprintf("nsid-%d.img", nsid)), nsSize)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		if err := tg.Attach(target.Namespace{NSID: nsid, Backend: f}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tg.Start(context.Background(), fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Fatal(err)
	}
	return func() {
		tg.Close()
		for _, f := range files {
			f.Close()
		}
	}
}

// TestLinuxHost: a Linux host discovers and connects to the target,
// lists its two file-backed namespaces, writes random blocks with O_DIRECT
// to NSID 1 (by its NSID: Linux 6.12 may name it nvme0n2),
// zeroes and deallocates some with nvme-cli; the file holds what the
// host wrote, and after a restart of the target a new boot of the host
// reads back the same bytes.
func TestLinuxHost(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	stop := serveFiles(t, dir, port)
	out := script(t, nil, "boot-host.sh", "-p", strconv.Itoa(port), "-n", nqn, "-w", "1",
		"-i", "write", "-s", strconv.Itoa(slba), "-b", strconv.Itoa(ioBlocks))
	stop()
	if d := section(t, out, "discover"); !strings.Contains(d, "subnqn:  "+nqn) {
		t.Errorf("discovery log without the subsystem:\n%s", d)
	}
	var list struct{ Devices []struct{ NameSpace uint32 } }
	if err := json.Unmarshal([]byte(section(t, out, "list")), &list); err != nil {
		t.Fatalf("nvme list -o json: %v\n%s", err, section(t, out, "list"))
	}
	var nsids []uint32
	for _, d := range list.Devices {
		nsids = append(nsids, d.NameSpace)
	}
	slices.Sort(nsids)
	if !slices.Equal(nsids, []uint32{1, 2}) {
		t.Errorf("nvme list: NSIDs %v, want [1 2]", nsids)
	}
	io := fields(section(t, out, "io"))
	if io["device"] == "none" {
		t.Fatalf("the host has no block device for NSID 1:\n%s", out)
	}
	for _, k := range []string{"write", "write-zeroes", "dsm"} {
		if io[k] != "rc=0" {
			t.Errorf("%s: %q", k, io[k])
		}
	}
	if io["written"] != io["pattern"] {
		t.Errorf("read back %s after the write, wrote %s", io["written"], io["pattern"])
	}
	file, err := os.ReadFile(filepath.Join(dir, "nsid-1.img"))
	if err != nil || len(file) != nsSize {
		t.Fatalf("nsid-1.img: %d bytes, %v", len(file), err)
	}
	region := file[ioOffset : ioOffset+ioLength]
	if !bytes.Equal(region[:zeroBytes], make([]byte, zeroBytes)) {
		t.Errorf("the zeroed and deallocated blocks hold data in the file")
	}
	if got := sum(region[zeroBytes:]); got != io["tail"] {
		t.Errorf("file holds %s after the zeroed blocks, the host wrote %s", got, io["tail"])
	}
	if got := sum(region); got != io["readback"] {
		t.Errorf("file region %s, the host read back %s", got, io["readback"])
	}

	stop = serveFiles(t, dir, port)
	defer stop()
	out = script(t, nil, "boot-host.sh", "-p", strconv.Itoa(port), "-n", nqn, "-w", "1",
		"-i", "read", "-s", strconv.Itoa(slba), "-b", strconv.Itoa(ioBlocks))
	if got := fields(section(t, out, "io"))["readback"]; got != sum(region) {
		t.Errorf("after the restart the host read %s, want %s", got, sum(region))
	}
}

// TestScanLinuxTarget scans Linux's nvmet-tcp target with NSIDs 1, 4, 7,
// 10, 13 (STRIDE=3), detaches NSID 7 and rescans, re-attaches it and
// rescans: the ordered scan names namespaces in list order each time.
func TestScanLinuxTarget(t *testing.T) {
	port := freePort(t)
	env := []string{"PORT=" + strconv.Itoa(port), "STRIDE=3", "NQN=" + nqn}
	script(t, env, "boot-target.sh", "5")
	defer script(t, env, "stop-target.sh")
	ctx := context.Background()
	c, err := host.Connect(ctx, fmt.Sprintf("127.0.0.1:%d", port), host.Config{SubsystemNQN: nqn})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := &scan.Scanner{Ctrl: c, Mode: scanmode.Ordered}
	steps := []struct {
		ctl     []string // ctl-target.sh arguments before the scan
		want    []string // names, in NSID order
		added   int
		removed int
	}{
		{nil, []string{"nvme0n1", "nvme0n2", "nvme0n3", "nvme0n4", "nvme0n5"}, 5, 0},
		{[]string{"disable", "7"}, []string{"nvme0n1", "nvme0n2", "nvme0n4", "nvme0n5"}, 0, 1},
		{[]string{"enable", "7"}, []string{"nvme0n1", "nvme0n2", "nvme0n3", "nvme0n4", "nvme0n5"}, 1, 0},
	}
	for _, st := range steps {
		if st.ctl != nil {
			if got := script(t, env, "ctl-target.sh", st.ctl...); !strings.HasPrefix(got, "ok "+strings.Join(st.ctl, " ")) {
				t.Fatalf("ctl-target.sh %v: %q", st.ctl, got)
			}
		}
		res, err := s.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Added) != st.added || len(res.Removed) != st.removed {
			t.Errorf("after %v: %d added, %d removed; want %d, %d", st.ctl, len(res.Added), len(res.Removed), st.added, st.removed)
		}
		var got []string
		var nsids []uint32
		for _, ns := range s.Namespaces() {
			got = append(got, ns.Name)
			nsids = append(nsids, ns.NSID)
		}
		if !slices.Equal(got, st.want) {
			t.Errorf("after %v: names %v (NSIDs %v), want %v", st.ctl, got, nsids, st.want)
		}
	}
}
