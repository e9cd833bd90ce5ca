package target

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/complchain/complchain/internal/memtest"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// Many connections that each send the header of an H2CData PDU of
// MAXH2CDATA and part of its data, then stall, make the target hold
// about what they sent, not what they announced: also after each sent
// one whole write of MAXH2CDATA first (the buffer it was read into is
// not kept for the connection).
func TestHostileHalfSentPDUs(t *testing.T) {
	const conns, n = 64, 128 << 10 // n: one H2CData of MAXH2CDATA
	for _, tt := range []struct {
		fullFirst bool
		sent      int
	}{
		{false, 0}, {false, 1000}, {false, 16 << 10},
		{true, 0}, {true, 1000}, {true, 16 << 10},
	} {
		t.Run(fmt.Sprintf("full write first %v, %d bytes sent", tt.fullFirst, tt.sent), func(t *testing.T) {
			cfg := Config{Limits: Limits{MaxConnectionsPerHost: 4 * conns}}
			hostile(t, cfg, func(t *testing.T, tg *Target, addr string) {
				hs := make([]*rawHost, conns)
				r2ts := make([]tcp.DataHeader, conns)
				for i := range hs {
					hs[i] = dialRaw(t, addr)
					ioConnect(t, tg, addr, hs[i], 32)
					hs[i].capsule(&nvme.Command{CID: 9, Opcode: nvme.OpFlush, NSID: 1}, nil)
					if c := hs[i].response(9); c.Status != 0 {
						t.Fatal(c.Status)
					}
				}
				before := memtest.HeapInUse()
				for i := range hs {
					if tt.fullFirst {
						hs[i].capsule(transportWrite(1, 0, n/512), nil)
						hs[i].sendData(hs[i].r2t())
						if c := hs[i].response(1); c.Status != 0 {
							t.Fatal(c.Status)
						}
					}
					hs[i].capsule(transportWrite(2, 0, n/512), nil)
					r2ts[i] = hs[i].r2t()
				}
				for i, h := range hs {
					pdu := h.dg.AppendData(nil, tcp.TypeH2CData, tcp.FlagDataLast,
						tcp.DataHeader{CID: r2ts[i].CID, TTag: r2ts[i].TTag}, make([]byte, n))
					h.send(pdu[:tcp.DataHLen+tt.sent])
				}
				// The targets' readers take what was sent as it
				// arrives: the peak over a few collections is what it
				// holds.
				var peak uint64
				for range 8 {
					peak = max(peak, memtest.HeapInUse())
				}
				limit := uint64(conns*(8<<10+tt.sent*5/2) + 1<<20)
				runtime.KeepAlive(hs) // their readers were in before
				grew := int64(peak) - int64(before)
				t.Logf("heap grew %d bytes", grew)
				if grew > int64(limit) {
					t.Errorf("%d connections each sent %d of %d bytes: heap grew %d bytes, want at most %d",
						conns, tt.sent, n, grew, limit)
				}
			})
		})
	}
}

// BenchmarkWrite128KDepth4 writes 128 KiB at a time, 4 in flight, over
// loopback: each write's data is one H2CData PDU of MAXH2CDATA, larger
// than the target's 64 KiB read buffer, so read into the buffer given
// back between PDUs; B/op counts the host's and the target's
// allocations.
func BenchmarkWrite128KDepth4(b *testing.B) {
	const n = 128 << 10
	tg, addr := startTarget(b, Config{Namespaces: 1})
	q := ioQueue(b, addr, tg.NQN(), tcp.HostConfig{})
	b.SetParallelism(2) // 4 goroutines on 2 cores
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, n)
		for i := uint64(0); pb.Next(); i++ {
			if _, err := q.Do(context.Background(), writeCmd(1, i%64*(n/512), n/512), buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// Connections that send an ICReq and then nothing, or part of a
// Connect, make the target hold the small buffer a Connect is read
// through, not the 64 KiB a connected queue reads through.
func TestHostileUnconnected(t *testing.T) {
	const conns = 64
	connect := connectCmd(0, 31, 0)
	connect.SetSGL(nvme.SGL{Length: nvme.ConnectDataSize, Type: nvme.SGLDataBlockOffset})
	capsule := tcp.Digests{}.AppendCapsuleCmd(nil, connect, connectDataBytes(nvme.DynamicController, DefaultNQN, testHostNQN))
	for _, sent := range []int{0, tcp.CapsuleCmdLen, len(capsule) - 1} {
		t.Run(fmt.Sprintf("%d bytes of a Connect", sent), func(t *testing.T) {
			cfg := Config{Limits: Limits{MaxConnectionsPerHost: 2 * conns}}
			hostile(t, cfg, func(t *testing.T, tg *Target, addr string) {
				hs := make([]*rawHost, conns)
				for i := range hs {
					hs[i] = dialRaw(t, addr)
				}
				before := memtest.HeapInUse()
				for _, h := range hs {
					h.icreq()
					h.send(capsule[:sent])
				}
				var peak uint64
				for range 8 {
					peak = max(peak, memtest.HeapInUse())
				}
				runtime.KeepAlive(hs) // their readers were in before
				grew := int64(peak) - int64(before)
				t.Logf("heap grew %d bytes", grew)
				if limit := int64(conns * 12 << 10); grew > limit {
					t.Errorf("%d connections with an ICReq and %d bytes of a Connect: heap grew %d bytes, want at most %d",
						conns, sent, grew, limit)
				}
			})
		})
	}
}
