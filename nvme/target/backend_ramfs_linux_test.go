package target

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// ramfsChild is set in the environment of the process that
// TestDeallocateOnRamfs starts in namespaces of its own.
const ramfsChild = "COMPLCHAIN_TEST_RAMFS"

// TestDeallocateOnRamfs serves a FileBackend on ramfs, a file system
// that cannot punch holes (it has no fallocate), which any user may
// mount in a user and mount namespace of its own: the test runs itself
// there. The file reports that it cannot deallocate, Identify Namespace
// DLFEAT says nothing of deallocated blocks, Dataset Management's
// deallocate writes nothing (the blocks keep their data), and Write
// Zeroes writes zeros.
func TestDeallocateOnRamfs(t *testing.T) {
	if os.Getenv(ramfsChild) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDeallocateOnRamfs$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), ramfsChild+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		}
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			t.Fatalf("in its own namespaces: %v\n%s", err, out)
		case err != nil:
			t.Skipf("no user namespace to mount ramfs in: %v", err)
		case bytes.Contains(out, []byte("--- SKIP")):
			t.Skipf("in its own namespaces:\n%s", out)
		case !bytes.Contains(out, []byte("--- PASS: TestDeallocateOnRamfs")):
			t.Fatalf("in its own namespaces, no PASS:\n%s", out)
		}
		return
	}
	dir := t.TempDir()
	if err := syscall.Mount("ramfs", dir, "ramfs", 0, ""); err != nil {
		t.Skipf("mount ramfs: %v", err)
	}
	defer syscall.Unmount(dir, 0)
	f, err := CreateFile(filepath.Join(dir, "ns.img"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Deallocates() {
		t.Fatal("a file on ramfs reports that it deallocates")
	}
	if err := f.Deallocate(0, 4096); !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, ErrBackend) {
		t.Fatalf("Deallocate on ramfs: %v, want ErrBackend and errors.ErrUnsupported", err)
	}
	tg, addr := startTarget(t, Config{})
	if err := tg.Attach(Namespace{NSID: 1, Backend: f}); err != nil {
		t.Fatal(err)
	}
	aq, _ := admin(t, addr, tg.NQN(), 0)
	b, err := identify(aq, nvme.CNSNamespace, 1)
	if err != nil {
		t.Fatal(err)
	}
	var id nvme.IdentifyNamespace
	id.UnmarshalBinary(b)
	if id.DLFEAT != 0 {
		t.Errorf("DLFEAT %#x, want 0: the read behaviour of deallocated blocks not reported", id.DLFEAT)
	}
	q := ioQueue(t, addr, tg.NQN(), tcp.HostConfig{})
	ctx := context.Background()
	ones := bytes.Repeat([]byte{0xff}, 4*512)
	tests := []struct {
		name    string
		cmd     *nvme.Command
		data    []byte
		cleared bool // blocks 1-2 read as zeros afterwards
	}{
		{"deallocate", dsmCmd(1, 1, true), nvme.AppendDSMRanges(nil, nvme.DSMRange{SLBA: 1, Length: 2}), false},
		{"deallocate the namespace", dsmCmd(1, 1, true), nvme.AppendDSMRanges(nil, nvme.DSMRange{Length: 1 << 20 / 512}), false},
		{"write zeroes", writeZeroesCmd(1, 1, 2), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := q.Do(ctx, writeCmd(1, 0, 4), ones); err != nil {
				t.Fatal(err)
			}
			if _, err := q.Do(ctx, tt.cmd, tt.data); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(ones))
			if _, err := q.Do(ctx, readCmd(1, 0, 4), got); err != nil {
				t.Fatal(err)
			}
			want := bytes.Clone(ones)
			if tt.cleared {
				clear(want[512 : 3*512])
			}
			if !bytes.Equal(got, want) {
				t.Errorf("blocks 0-3 read back as %x…", got[510:514])
			}
		})
	}
}
