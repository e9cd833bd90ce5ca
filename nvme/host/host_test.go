package host_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/target"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startTarget(t *testing.T, cfg target.Config) (*target.Target, string) {
	t.Helper()
	tg, err := target.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	addr, err := tg.Start(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return tg, addr
}

func connect(t *testing.T, addr string, cfg host.Config) *host.Controller {
	t.Helper()
	if cfg.SubsystemNQN == "" {
		cfg.SubsystemNQN = target.DefaultNQN
	}
	c, err := host.Connect(context.Background(), addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConnect(t *testing.T) {
	tests := []struct {
		name      string
		offered   int
		asked     int
		wantDepth int
	}{
		{"Default", 32, 0, 31},
		{"DeepestOffered", 1024, 0, 1023},
		{"Asked", 1024, 64, 63},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := startTarget(t, target.Config{Namespaces: 3, AdminQueueDepth: tt.offered})
			c := connect(t, addr, host.Config{AdminQueueDepth: tt.asked})
			if got := c.QueueDepth(); got != tt.wantDepth {
				t.Errorf("QueueDepth = %d, want %d", got, tt.wantDepth)
			}
			id := c.IdentifyController()
			if id.SubNQN != target.DefaultNQN || id.NN < 3 {
				t.Errorf("Identify Controller: SubNQN %q NN %d", id.SubNQN, id.NN)
			}
			ids, err := c.ActiveNamespaces(context.Background(), 0)
			if err != nil || len(ids) != 3 || ids[2] != 3 {
				t.Fatalf("ActiveNamespaces = %v, %v", ids, err)
			}
			ns, err := c.IdentifyNamespace(context.Background(), 2)
			if err != nil || ns.NSZE == 0 || ns.BlockSize() != 512 {
				t.Fatalf("IdentifyNamespace(2) = %+v, %v", ns, err)
			}
			d, err := c.IdentifyNSDescriptors(context.Background(), 2)
			if err != nil || d.NGUID != ns.NGUID || d.NGUID == ([16]byte{}) {
				t.Fatalf("descriptors NGUID %x, identify NGUID %x, %v", d.NGUID, ns.NGUID, err)
			}
		})
	}
}

func TestConnectErrors(t *testing.T) {
	_, addr := startTarget(t, target.Config{Namespaces: 1})
	_, err := host.Connect(context.Background(), addr, host.Config{SubsystemNQN: "nqn.2026-01.io.example:nope"})
	var ce *host.ConnectError
	if !errors.As(err, &ce) || ce.Status.Code() != nvme.StatusConnectInvalidParam {
		t.Fatalf("wrong NQN: %v, want a ConnectError with Connect Invalid Parameters", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, err = host.Connect(context.Background(), closed, host.Config{})
	if err == nil || !strings.Contains(err.Error(), closed) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("refused connection: %v, want the address and the cause", err)
	}
}

func TestNamespaceChangedEvent(t *testing.T) {
	tg, addr := startTarget(t, target.Config{Namespaces: 2})
	c := connect(t, addr, host.Config{})
	if err := tg.Attach(target.Namespace{NSID: 7}); err != nil {
		t.Fatal(err)
	}
	ev := <-c.Events()
	if !ev.NamespaceChanged() {
		t.Fatalf("event %+v, want namespace attribute changed", ev)
	}
	changed, err := c.ChangedNamespaces(context.Background())
	if err != nil || len(changed) != 1 || changed[0] != 7 {
		t.Fatalf("ChangedNamespaces = %v, %v; want [7]", changed, err)
	}
	if err := tg.Detach(1); err != nil {
		t.Fatal(err)
	}
	if ev := <-c.Events(); !ev.NamespaceChanged() {
		t.Fatalf("event %+v, want namespace attribute changed", ev)
	}
	ids, err := c.ActiveNamespaces(context.Background(), 0)
	if err != nil || len(ids) != 2 || ids[0] != 2 || ids[1] != 7 {
		t.Fatalf("ActiveNamespaces = %v, %v; want [2 7]", ids, err)
	}
}

func TestCommandTimeout(t *testing.T) {
	tg, addr := startTarget(t, target.Config{Namespaces: 2})
	tg.SetFaults(target.Faults{Hang: map[uint32]bool{2: true}})
	c := connect(t, addr, host.Config{CommandTimeout: 100 * time.Millisecond})
	if _, err := c.IdentifyNamespace(context.Background(), 2); !errors.Is(err, host.ErrTimeout) {
		t.Fatalf("hung namespace: %v, want ErrTimeout", err)
	}
	if _, err := c.IdentifyNamespace(context.Background(), 1); err != nil {
		t.Fatalf("after a timeout: %v", err)
	}
}

func TestConnectionLost(t *testing.T) {
	tg, addr := startTarget(t, target.Config{Namespaces: 1})
	c := connect(t, addr, host.Config{})
	tg.Close()
	<-c.Done()
	if c.Err() == nil {
		t.Fatal("Err() = nil after the target went away")
	}
	if _, err := c.IdentifyNamespace(context.Background(), 1); err == nil {
		t.Fatal("command on a lost controller succeeded")
	}
}

func TestDiscover(t *testing.T) {
	_, addr := startTarget(t, target.Config{Namespaces: 1})
	entries, err := host.Discover(context.Background(), addr, host.Config{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.SubsystemNQN == target.DefaultNQN && e.TransportType == 3 && net.JoinHostPort(e.Address, e.ServiceID) == addr {
			found = true
		}
	}
	if !found {
		t.Fatalf("discovery log %+v does not list %s at %s", entries, target.DefaultNQN, addr)
	}
}

// StartNamespaceIDsFunc calls its function once, after both answers, and
// Wait then returns at once with what they read, the Identify Namespace
// data kept in the call; a second Wait is an error, not a double return
// of the call's pages to their pool.
func TestStartNamespaceIDsFunc(t *testing.T) {
	_, addr := startTarget(t, target.Config{Namespaces: 3})
	c := connect(t, addr, host.Config{})
	ctx := context.Background()
	var calls atomic.Int32
	answered := make(chan struct{})
	p := c.StartNamespaceIDsFunc(ctx, 2, func() {
		if calls.Add(1) == 1 {
			close(answered)
		}
	})
	<-answered
	ns, ids, err := p.Wait(ctx)
	if err != nil || ns.NSZE == 0 || ids.NGUID == ([16]byte{}) {
		t.Fatalf("Wait = %+v, %+v, %v", ns, ids, err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("function called %d times", n)
	}
	if _, _, err := p.Wait(ctx); err == nil {
		t.Fatal("second Wait succeeded")
	}
}
