package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/nvme/tcp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	subNQN  = "nqn.2026-01.io.complchain:ctl"
	hostNQN = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000c0de"
)

// fixture is a target with two namespaces of 1 MiB served on loopback,
// its control socket and a client of it.
type fixture struct {
	tg   *target.Target
	addr string // NVMe/TCP
	path string // control socket
	c    *Client
}

func start(t *testing.T) *fixture { return startTB(t) }

func startTB(t testing.TB) *fixture {
	t.Helper()
	tg, err := target.New(target.Config{NQN: subNQN, Namespaces: 2, NamespaceSize: 1 << 20, MaxNSID: 16})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := tg.Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ctl")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, tg) }()
	c := NewClient(path)
	t.Cleanup(func() {
		c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		tg.Close()
	})
	return &fixture{tg: tg, addr: addr, path: path, c: c}
}

// connect connects an admin queue as hostNQN, with namespace notices on.
func (f *fixture) connect(t *testing.T) *host.Controller {
	t.Helper()
	c, err := host.Connect(context.Background(), f.addr, host.Config{SubsystemNQN: subNQN, HostNQN: hostNQN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ioQueue connects I/O queue 1 of 32 entries to the controller cntlid,
// closed at the end of the test.
func (f *fixture) ioQueue(t *testing.T, cntlid uint16) *tcp.HostQueue {
	t.Helper()
	ctx := context.Background()
	nc, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	q, err := tcp.NewHostQueue(ctx, nc, tcp.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	cd := nvme.ConnectData{CNTLID: cntlid, SubsystemNQN: subNQN, HostNQN: hostNQN}
	data, err := cd.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	connect := nvme.ConnectCommand(1, 32, 0)
	if _, err := q.Do(ctx, &connect, data); err != nil {
		t.Fatalf("I/O queue Connect: %v", err)
	}
	return q
}

// event waits for a namespace attribute changed notice and returns the
// Changed Namespace List.
func event(t *testing.T, c *host.Controller) []uint32 {
	t.Helper()
	select {
	case ev := <-c.Events():
		if !ev.NamespaceChanged() {
			t.Fatalf("event %+v, want namespace attribute changed", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no namespace attribute changed event")
	}
	ids, err := c.ChangedNamespaces(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestAttachRaisesEvent(t *testing.T) {
	f := start(t)
	c := f.connect(t)
	ctx := context.Background()
	ns, err := f.c.Attach(ctx, subNQN, AttachRequest{NSID: 5, Size: 4 << 20, BlockSize: 4096})
	if err != nil || ns != (Namespace{NSID: 5, Size: 4 << 20, BlockSize: 4096}) {
		t.Fatalf("Attach = %+v, %v", ns, err)
	}
	if ids := event(t, c); !slices.Equal(ids, []uint32{5}) {
		t.Fatalf("Changed Namespace List %v, want [5]", ids)
	}
	active, err := c.ActiveNamespaces(ctx, 0)
	if err != nil || !slices.Equal(active, []uint32{1, 2, 5}) {
		t.Fatalf("ActiveNamespaces = %v, %v; want [1 2 5]", active, err)
	}
	id, err := c.IdentifyNamespace(ctx, 5)
	if err != nil || id.NSZE != 1024 {
		t.Fatalf("Identify Namespace 5: %+v, %v; want NSZE 1024", id, err)
	}
	subs, err := f.c.Subsystems(ctx)
	if err != nil || len(subs) != 1 || len(subs[0].Namespaces) != 3 || subs[0].MaxNSID != 16 || !subs[0].AllowAnyHost {
		t.Fatalf("Subsystems = %+v, %v", subs, err)
	}
}

func TestResizeRaisesEvent(t *testing.T) {
	f := start(t)
	c := f.connect(t)
	ctx := context.Background()
	if err := f.tg.WriteAt(1, bytes.Repeat([]byte{0xa5}, 4096), 1<<20-4096); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		size uint64
		want uint64 // NSZE
	}{{8 << 20, 16384}, {512 << 10, 1024}, {1 << 20, 2048}} {
		ns, err := f.c.Resize(ctx, subNQN, 1, tc.size)
		if err != nil || ns.Size != tc.size {
			t.Fatalf("Resize(%d) = %+v, %v", tc.size, ns, err)
		}
		if ids := event(t, c); !slices.Equal(ids, []uint32{1}) {
			t.Fatalf("Changed Namespace List %v, want [1]", ids)
		}
		id, err := c.IdentifyNamespace(ctx, 1)
		if err != nil || id.NSZE != tc.want || id.NCAP != tc.want {
			t.Fatalf("after Resize(%d): NSZE %d NCAP %d, %v; want %d", tc.size, id.NSZE, id.NCAP, err, tc.want)
		}
	}
	// The shrink to 512 KiB dropped what lay beyond: the last block reads zeros.
	got := make([]byte, 4096)
	if err := f.tg.ReadAt(1, got, 1<<20-4096); err != nil || !bytes.Equal(got, make([]byte, 4096)) {
		t.Fatalf("data beyond a shrink survived it (err %v)", err)
	}
}

// TestDetachOtherNamespaceServes checks that a host connected when a
// namespace is detached gets the event and errors for that namespace
// only.
func TestDetachOtherNamespaceServes(t *testing.T) {
	f := start(t)
	c := f.connect(t)
	ctx := context.Background()
	q := f.ioQueue(t, c.CNTLID())
	read := func(nsid uint32) error {
		_, err := q.Do(ctx, &nvme.Command{Opcode: nvme.OpRead, NSID: nsid}, make([]byte, 512))
		return err
	}
	for _, nsid := range []uint32{1, 2} {
		if err := read(nsid); err != nil {
			t.Fatalf("read NSID %d before detach: %v", nsid, err)
		}
	}
	if err := f.c.Detach(ctx, subNQN, 1); err != nil {
		t.Fatal(err)
	}
	if ids := event(t, c); !slices.Equal(ids, []uint32{1}) {
		t.Fatalf("Changed Namespace List %v, want [1]", ids)
	}
	var st nvme.Status
	if err := read(1); !errors.As(err, &st) || st.Code() != nvme.StatusInvalidNamespace.Code() {
		t.Fatalf("read of the detached NSID 1: %v, want Invalid Namespace", err)
	}
	if err := read(2); err != nil {
		t.Fatalf("read NSID 2 after NSID 1 was detached: %v", err)
	}
}

func TestHosts(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	const other = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000ff"
	discover := func(h string) bool {
		t.Helper()
		es, err := host.Discover(ctx, f.addr, host.Config{HostNQN: h})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(es, func(e nvme.DiscoveryEntry) bool { return e.SubsystemNQN == subNQN })
	}
	s, err := f.c.AllowHost(ctx, subNQN, other)
	if err != nil || s.AllowAnyHost || !slices.Equal(s.AllowedHosts, []string{other}) {
		t.Fatalf("AllowHost = %+v, %v", s, err)
	}
	if discover(hostNQN) || !discover(other) {
		t.Fatal("after allow-host, the discovery log does not list the subsystem to the allowed host only")
	}
	if _, err := host.Connect(ctx, f.addr, host.Config{SubsystemNQN: subNQN, HostNQN: hostNQN}); err == nil {
		t.Fatal("a host not allowed connected")
	}
	if s, err = f.c.DisallowHost(ctx, subNQN, other); err != nil || len(s.AllowedHosts) != 0 || s.AllowAnyHost {
		t.Fatalf("DisallowHost = %+v, %v", s, err)
	}
	if discover(other) {
		t.Fatal("a disallowed host still discovers the subsystem")
	}
	// Host NQNs travel path-escaped: '/' and '%' reach the target as given.
	const odd = "nqn.2014-08.example:a/b%20c"
	if s, err = f.c.AllowHost(ctx, subNQN, odd); err != nil || !slices.Equal(s.AllowedHosts, []string{odd}) {
		t.Fatalf("AllowHost(%q) = %+v, %v", odd, s, err)
	}
}

func TestPorts(t *testing.T) {
	f := start(t)
	ports, err := f.c.Ports(context.Background())
	if err != nil || len(ports) != 1 || ports[0].PortID != 1 || ports[0].Addr != f.addr {
		t.Fatalf("Ports = %+v, %v; want port 1 on %s", ports, err, f.addr)
	}
}

// TestRefused checks bad requests: each gets its status and a JSON error
// naming the field, and the target goes on serving.
func TestRefused(t *testing.T) {
	f := start(t)
	base := "/v1/subsystems/" + subNQN
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"bad JSON", "POST", base + "/namespaces", `{"nsid":`, 400, "body"},
		{"two values", "POST", base + "/namespaces", `{"nsid":3}{}`, 400, "body"},
		{"unknown field", "POST", base + "/namespaces", `{"nsid":3,"sise":1}`, 400, "sise"},
		{"string NSID", "POST", base + "/namespaces", `{"nsid":"3"}`, 400, "nsid"},
		{"unknown NQN", "GET", "/v1/subsystems/nqn.nope", "", 404, "nqn"},
		{"unknown NQN attach", "POST", "/v1/subsystems/nqn.nope/namespaces", `{"nsid":3}`, 404, "nqn"},
		{"NSID in use", "POST", base + "/namespaces", `{"nsid":2}`, 409, "nsid"},
		{"NSID 0", "POST", base + "/namespaces", `{"nsid":0}`, 400, "nsid"},
		{"NSID above MaxNSID", "POST", base + "/namespaces", `{"nsid":17}`, 400, "nsid"},
		{"NSID past 32 bits", "POST", base + "/namespaces", `{"nsid":4294967296}`, 400, "nsid"},
		{"block size", "POST", base + "/namespaces", `{"nsid":3,"block_size":1000}`, 400, "block_size"},
		{"size not blocks", "POST", base + "/namespaces", `{"nsid":3,"size":1000}`, 400, "size"},
		{"detach unknown NSID", "DELETE", base + "/namespaces/9", "", 404, "nsid"},
		{"detach NSID not a number", "DELETE", base + "/namespaces/x", "", 400, "nsid"},
		{"resize unknown NSID", "PATCH", base + "/namespaces/9", `{"size":4096}`, 404, "nsid"},
		{"resize below zero", "PATCH", base + "/namespaces/1", `{"size":-4096}`, 400, "size"},
		{"resize to zero", "PATCH", base + "/namespaces/1", `{"size":0}`, 400, "size"},
		{"resize not blocks", "PATCH", base + "/namespaces/1", `{"size":1000}`, 400, "size"},
		{"resize past the limit", "PATCH", base + "/namespaces/1", `{"size":9223372036854775808}`, 400, "size"},
		{"resize past 64 bits", "PATCH", base + "/namespaces/1", `{"size":18446744073709551616}`, 400, "size"},
		{"body too large", "PATCH", base + "/namespaces/1", `{"size":` + strings.Repeat(" ", MaxRequestBytes) + `4096}`, 413, "body"},
		{"disallow a host not allowed", "DELETE", base + "/hosts/nqn.x", "", 404, "hostnqn"},
		{"allow a host NQN too long", "POST", base + "/hosts/" + strings.Repeat("h", 224), "", 400, "hostnqn"},
		{"allow a host NQN with NUL", "POST", base + "/hosts/nqn.h%00x", "", 400, "hostnqn"},
		{"allow a host NQN not UTF-8", "POST", base + "/hosts/nqn.h%FF%FE", "", 400, "hostnqn"},
		{"no such resource", "GET", "/v2/subsystems", "", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://control"+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := f.c.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("error body: %v", err)
			}
			if resp.StatusCode != tc.status || e.Status != tc.status || e.Field != tc.field || e.Message == "" {
				t.Fatalf("status %d, body %+v; want %d naming %q", resp.StatusCode, e, tc.status, tc.field)
			}
		})
	}
	subs, err := f.c.Subsystems(context.Background())
	if err != nil || len(subs) != 1 || len(subs[0].Namespaces) != 2 || subs[0].Namespaces[0].Size != 1<<20 {
		t.Fatalf("after refused requests: %+v, %v; want the target unchanged", subs, err)
	}
}

func TestClientError(t *testing.T) {
	f := start(t)
	_, err := f.c.Attach(context.Background(), subNQN, AttachRequest{NSID: 1})
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusConflict || e.Field != "nsid" {
		t.Fatalf("Attach of NSID 1 again: %v, want a 409 naming nsid", err)
	}
}

func TestListen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v, %v; want a socket with permissions 0600", fi.Mode(), err)
	}
	if _, err := Listen(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("Listen on a live socket: %v, want ErrInUse", err)
	}
	ln.Close()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Close left %s: %v", path, err)
	}

	// A stale socket: nothing listens on it.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	if ln, err = Listen(path); err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ln.Close()

	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(file); !errors.Is(err, ErrInUse) {
		t.Fatalf("Listen on a regular file: %v, want ErrInUse", err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep" {
		t.Fatalf("the file was changed: %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("Listen left %d entries in its directory, want 1", len(ents))
	}
}
