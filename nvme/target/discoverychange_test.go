package target

import (
	"context"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// discoveryAER sends an Asynchronous Event Request on a discovery
// controller; its result arrives on the returned channel.
func discoveryAER(ctx context.Context, q *tcp.HostQueue) <-chan uint64 {
	ch := make(chan uint64, 1)
	go func() {
		c, err := q.Do(ctx, &nvme.Command{Opcode: nvme.OpAsyncEvent}, nil)
		if err != nil {
			close(ch)
			return
		}
		ch <- c.Result
	}()
	return ch
}

// TestDiscoveryChangeEvent checks that each change of the discovery log
// raises the Discovery Log Page Change notice (type 2h, information F0h,
// log 70h) on a discovery controller that enabled it, masked until the
// host reads the log.
func TestDiscoveryChangeEvent(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 1})
	s := tg.Subsystems()[0]
	const host = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000d1"
	for _, tc := range []struct {
		name   string
		change func() error
	}{
		{"allow host", func() error { return s.AllowHost(host) }},
		{"disallow host", func() error { return s.DisallowHost(host) }},
		{"allow any host", func() error { s.AllowAnyHost(); return nil }},
		{"add referral", func() error { return tg.AddReferral(Referral{Addr: "127.0.0.1:9"}) }},
		{"remove referral", func() error { return tg.RemoveReferral("127.0.0.1:9") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, cntlid := admin(t, addr, nvme.DiscoveryNQN, 0)
			var id nvme.IdentifyController
			b, err := identify(q, nvme.CNSController, 0)
			if err == nil {
				err = id.UnmarshalBinary(b)
			}
			if err != nil || id.OAES&nvme.AsyncEventDiscoveryChanged == 0 {
				t.Fatalf("discovery Identify OAES %#x, %v; want bit 31", id.OAES, err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := q.Do(ctx, &nvme.Command{Opcode: nvme.OpSetFeatures, CDW10: nvme.FeatureAsyncEvent, CDW11: nvme.AsyncEventDiscoveryChanged}, nil); err != nil {
				t.Fatal(err)
			}
			gen1, _, _ := readDiscoveryLog(t, q)
			ev := discoveryAER(ctx, q)
			if err := tc.change(); err != nil {
				t.Fatal(err)
			}
			select {
			case r, ok := <-ev:
				e := nvme.ParseAsyncEvent(uint32(r))
				if !ok || !e.DiscoveryChanged() || e.Log != nvme.LogDiscovery {
					t.Fatalf("AER result %#x (ok %v), want the Discovery Log Page Change notice", r, ok)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no Discovery Log Page Change notice")
			}
			// Masked until the log is read: a second change waits for it.
			ev = discoveryAER(ctx, q)
			tg.mu.Lock()
			tg.discoveryChangedLocked()
			tg.mu.Unlock()
			c := tg.controller(cntlid)
			c.mu.Lock()
			pending, masked := c.pending, c.masked
			c.mu.Unlock()
			if !pending || !masked {
				t.Fatalf("a change while masked: pending %v, masked %v; want both", pending, masked)
			}
			if gen2, _, _ := readDiscoveryLog(t, q); gen2 < gen1+2 {
				t.Fatalf("GENCTR %d after two changes from %d", gen2, gen1)
			}
			select {
			case r, ok := <-ev:
				if !ok || !nvme.ParseAsyncEvent(uint32(r)).DiscoveryChanged() {
					t.Fatalf("AER result %#x (ok %v) after the log was read", r, ok)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the change made while masked was not reported once the log was read")
			}
		})
	}
}
