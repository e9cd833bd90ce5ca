package tcp_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// A controller answers a full queue of reads in an order of its own, all
// in one write, sometimes answering a command twice or one never sent.
// Every command answered in time gets its own data in its own buffer;
// every done function runs at most once, and exactly once for each
// command answered before the queue fails; every Wait returns.
func TestAnswersInDisorder(t *testing.T) {
	const depth = 64
	for _, tc := range []struct {
		name  string
		order func(cids []uint16) []uint16 // the CIDs answered, in order
		fails bool                         // the queue fails with a TermReq
	}{
		{"reverse", func(c []uint16) []uint16 { slices.Reverse(c); return c }, false},
		{"interleaved", func(c []uint16) []uint16 {
			var o []uint16
			for i := range len(c) / 2 {
				o = append(o, c[len(c)/2+i], c[i])
			}
			return o
		}, false},
		{"twice", func(c []uint16) []uint16 { return append(c[:10:10], c[5]) }, true},
		{"never sent", func(c []uint16) []uint16 { return append(c[:10:10], depth+3) }, true},
		{"partial", func(c []uint16) []uint16 { return append(c[1:10:10], c[0]) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, term := startScripted(t, func(s *scripted) error {
				var cids []uint16
				for range depth {
					c, err := s.capsule()
					if err != nil {
						return err
					}
					cids = append(cids, c.CID)
				}
				var out [][]byte
				for _, cid := range tc.order(cids) {
					page := bytes.Repeat([]byte{byte(cid)}, nvme.IdentifySize)
					out = append(out, s.data(cid, 0, page, tcp.FlagDataLast|tcp.FlagDataSuccess))
				}
				return s.send(out...)
			})
			q := hostileQueue(t, addr, tcp.HostConfig{Depth: depth})
			ctx := context.Background()
			var calls [depth]atomic.Int32
			bufs := make([][]byte, depth)
			started := make([]tcp.Call, depth)
			for i := range depth {
				bufs[i] = make([]byte, nvme.IdentifySize)
				id := nvme.IdentifyCommand(nvme.CNSController, 0)
				started[i] = q.StartFunc(ctx, &id, bufs[i], func() { calls[i].Add(1) })
			}
			if tc.fails {
				<-q.Done()
			}
			answered := 0
			var ok [depth]bool
			for i, call := range started {
				// Which command got which CID is the queue's
				// business; a command's data carries its CID.
				if !tc.fails && tc.name == "partial" && i >= 10 {
					break // answered never: the queue's Close ends them
				}
				_, err := call.Wait(ctx)
				if err != nil {
					if !tc.fails {
						t.Errorf("command %d: %v", i, err)
					}
					continue
				}
				answered++
				if want := bytes.Repeat(bufs[i][:1], len(bufs[i])); !bytes.Equal(bufs[i], want) {
					t.Errorf("command %d: data of several commands", i)
				}
				ok[i] = true
			}
			q.Close() // done functions run on the queue's goroutines: they have ended
			for i, ok := range ok {
				if n := calls[i].Load(); ok && n != 1 || n > 1 {
					t.Errorf("command %d (answered: %v): done called %d times", i, ok, n)
				}
			}
			if tc.fails {
				var te *tcp.TermError
				if !errors.As(q.Err(), &te) {
					t.Errorf("queue stopped with %v, want a TermError", q.Err())
				}
				if typ := <-term; typ != int(tcp.TypeH2CTermReq) {
					t.Errorf("controller got %d, want an H2CTermReq", typ)
				}
			}
			if answered == 0 {
				t.Errorf("no command answered")
			}
		})
	}
}
