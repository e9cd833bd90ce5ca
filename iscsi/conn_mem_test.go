package iscsi

import (
	"context"
	"net"
	"runtime"
	"testing"

	"github.com/complchain/complchain/internal/memtest"
	"github.com/complchain/complchain/scsi"
)

// Connections to a target that send nothing, or part of a login, cost
// it the small buffer a login is read through, not what a session
// reads and writes through: 256 connections held open by a peer that
// sends nothing make the target hold about 4 KiB each.
func TestTargetSilentConnections(t *testing.T) {
	const conns = 256
	for _, sent := range []int{0, 1, BHSLen - 1} {
		tg := NewTarget(TargetConfig{Hosts: []*scsi.Host{{LUNs: 1}}})
		addr, err := tg.Start(context.Background(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		before := memtest.HeapInUse()
		cs := make([]net.Conn, conns)
		for i := range cs {
			if cs[i], err = net.Dial("tcp", addr); err != nil {
				t.Fatal(err)
			}
			if _, err := cs[i].Write(make([]byte, sent)); err != nil {
				t.Fatal(err)
			}
		}
		// Once the target has accepted them all, its goroutines take
		// them as they come: the peak over a few collections is what
		// it holds.
		for accepted := 0; accepted < conns; runtime.Gosched() {
			tg.mu.Lock()
			accepted = len(tg.conns)
			tg.mu.Unlock()
		}
		var peak uint64
		for range 8 {
			peak = max(peak, memtest.HeapInUse())
		}
		runtime.KeepAlive(cs)
		t.Logf("%d connections that sent %d bytes: heap grew %d bytes", conns, sent, int64(peak)-int64(before))
		if grew, limit := int64(peak)-int64(before), int64(conns*12<<10); grew > limit {
			t.Errorf("%d connections that sent %d bytes: heap grew %d bytes, want at most %d", conns, sent, grew, limit)
		}
		for _, c := range cs {
			c.Close()
		}
		tg.Close()
	}
}
