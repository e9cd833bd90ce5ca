package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestTargetBacking serves namespaces from --backing-dir files and a
// --backing file, twice: the files are created once, keep their size and
// data, and a host sees each namespace with its file's size.
func TestTargetBacking(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	dev := filepath.Join(dir, "dev.img")
	data := bytes.Repeat([]byte("backing"), 2<<20/7+1)[:2<<20]
	if err := os.WriteFile(dev, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		addr, done := startTargetCmd(t, ctx, "--namespaces", "3", "--ns-size", "1M", "--backing-dir", store, "--backing", "2="+dev)
		out, stderr, err := run(t, "scan", "--addr", addr, "-o", "json")
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("round %d: target: %v", round, err)
		}
		if err != nil {
			t.Fatalf("round %d: scan: %v\n%s", round, err, stderr)
		}
		var doc struct{ Devices []jsonDevice }
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Devices) != 3 {
			t.Fatalf("round %d: scan output %v: %s", round, err, out)
		}
		for i, want := range []uint64{1 << 20, 2 << 20, 1 << 20} {
			if got := doc.Devices[i].PhysicalSize; got != want {
				t.Errorf("round %d: NSID %d: %d bytes, want %d", round, i+1, got, want)
			}
		}
	}
	for name, size := range map[string]int64{"nsid-1.img": 1 << 20, "nsid-3.img": 1 << 20, "nsid-2.img": -1} {
		fi, err := os.Stat(filepath.Join(store, name))
		switch {
		case size < 0 && !os.IsNotExist(err):
			t.Errorf("%s: %v, want none: NSID 2 is on --backing", name, err)
		case size >= 0 && (err != nil || fi.Size() != size):
			t.Errorf("%s: %v, want %d bytes", name, err, size)
		}
	}
	if b, err := os.ReadFile(filepath.Join(store, "nsid-1.img")); err != nil || !bytes.Equal(b, make([]byte, 1<<20)) {
		t.Errorf("nsid-1.img holds more than zeros (%v): the target wrote into stored data", err)
	}
	if b, err := os.ReadFile(dev); err != nil || !bytes.Equal(b, data) {
		t.Errorf("the --backing file changed: %v", err)
	}

	// Several subsystems: a directory each.
	ctx, cancel := context.WithCancel(context.Background())
	_, done := startTargetCmd(t, ctx, "--subsystems", "2", "--namespaces", "1", "--ns-size", "1M", "--backing-dir", store)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("two subsystems: %v", err)
	}
	for _, name := range []string{"sub1/nsid-1.img", "sub2/nsid-1.img"} {
		if fi, err := os.Stat(filepath.Join(store, name)); err != nil || fi.Size() != 1<<20 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestTargetBackingErrors: storage that cannot be used stops the target
// at start with an error naming the flag and the file.
func TestTargetBackingErrors(t *testing.T) {
	dir := t.TempDir()
	odd := filepath.Join(dir, "odd.img")
	if err := os.WriteFile(odd, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "store")
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "nsid-1.img"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"--backing", "1=" + filepath.Join(dir, "missing.img")}, "--backing 1="},
		{"NSID beyond --namespaces", []string{"--namespaces", "2", "--backing", "3=" + odd}, "not in 1..2"},
		{"not a pair", []string{"--backing", odd}, "--backing"},
		{"size not a multiple of the block size", []string{"--namespaces", "1", "--backing", "1=" + odd}, "not a multiple of the block size"},
		{"stored file of another size", []string{"--namespaces", "1", "--ns-size", "1M", "--backing-dir", store}, "has 4096 bytes"},
		{"directory is a file", []string{"--backing-dir", odd}, "--backing-dir"},
		{"--backing with two subsystems", []string{"--subsystems", "2", "--backing", "1=" + odd}, "one subsystem only"},
		{"a directory as a file", []string{"--backing", "1=" + dir}, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, append([]string{"target", "--listen", "127.0.0.1:0"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestTargetIdentifyDelay: the profile given to --identify-delay reaches
// the target (a bad one stops it at start): an async scan names the
// namespaces in the order their Identify commands complete, last NSID
// first, and the ordered scan in list order however late NSID 1 answers.
func TestTargetIdentifyDelay(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, bad := range []string{"reverse", "reverse:-5ms", "random:x:5ms", "nsid:0=1ms", "sideways:1ms"} {
		if _, _, err := run(t, "target", "--listen", "127.0.0.1:0", "--identify-delay", bad); err == nil || !strings.Contains(err.Error(), "--identify-delay") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := startTargetCmd(t, ctx, "--namespaces", "4", "--identify-delay", "reverse:100ms")
	scan := func(mode string) []jsonDevice {
		out, stderr, err := run(t, "scan", "--addr", addr, "-o", "json", "--mode", mode)
		if err != nil {
			t.Fatalf("scan: %v\n%s", err, stderr)
		}
		var doc struct{ Devices []jsonDevice }
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Devices) != 4 {
			t.Fatalf("scan output %v: %s", err, out)
		}
		return doc.Devices
	}
	async, ordered := scan("async"), scan("ordered")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("target: %v", err)
	}
	for i := range 4 {
		want := fmt.Sprintf("/dev/nvme0n%d", i+1)
		if d := ordered[i]; d.DevicePath != want || d.NameSpace != uint32(i+1) {
			t.Errorf("ordered: %s is NSID %d, want NSID %d", d.DevicePath, d.NameSpace, i+1)
		}
		if d := async[i]; d.DevicePath != want || d.NameSpace != uint32(4-i) {
			t.Errorf("async: %s is NSID %d, want NSID %d", d.DevicePath, d.NameSpace, 4-i)
		}
	}
}

// TestOpenBackingsSameFile: one file may back one namespace only, however
// it is named: twice to --backing (once through a symlink), or to
// --backing and as a --backing-dir file. Nothing stays open.
func TestOpenBackingsSameFile(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "4k.img")
	if err := os.WriteFile(img, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.img")
	if err := os.Symlink(img, link); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "store")
	tests := []struct {
		name  string
		dir   string
		pairs []string
	}{
		{"the same file twice", "", []string{"1=" + img, "2=" + link}},
		{"a --backing-dir file also given to --backing", store, []string{"2=" + filepath.Join(store, "nsid-1.img")}},
	}
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "nsid-1.img"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, closeAll, err := openBackings(tt.dir, tt.pairs, 1, 2, 4096)
			if err == nil {
				closeAll()
				t.Fatal("openBackings accepted it")
			}
			if !strings.Contains(err.Error(), "already the storage of NSID") {
				t.Fatalf("error %v, want one naming the NSID the file backs", err)
			}
		})
	}
}
