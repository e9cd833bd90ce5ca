package host_test

import (
	"context"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/tcp"
)

// FuzzController brings a controller up normally, then answers the
// host's first namespace command with arbitrary bytes and hangs up: every
// call must return, Events must close, Close must return, and no
// goroutine may be left (TestMain checks).
func FuzzController(f *testing.F) {
	var d tcp.Digests
	ns := nvme.IdentifyNamespace{NSZE: 8, NCAP: 8}
	ns.LBAF[0].DataShift = 9
	page, _ := ns.AppendBinary(nil)
	f.Add(d.AppendCapsuleResp(d.AppendData(nil, tcp.TypeC2HData, tcp.FlagDataLast, tcp.DataHeader{}, page), &nvme.Completion{}))
	f.Add(d.AppendCapsuleResp(nil, &nvme.Completion{CID: 1}))
	f.Add(d.AppendCapsuleResp(nil, &nvme.Completion{CID: 31, Result: 0x000402}))
	f.Add(d.AppendData(nil, tcp.TypeC2HData, tcp.FlagDataLast|tcp.FlagDataSuccess, tcp.DataHeader{CID: 1}, make([]byte, 100)))
	f.Add(tcp.AppendTermReq(nil, tcp.TypeC2HTermReq, tcp.FESDataRange, 12, nil))
	f.Fuzz(func(t *testing.T, stream []byte) {
		fc := &scriptedCtrl{mqes: 31, oaes: nvme.AsyncEventNamespaceChanged, shst: true, raw: stream}
		addr := fc.start(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := host.Connect(ctx, addr, host.Config{SubsystemNQN: "nqn.2026-01.io.example:hostile", KATO: -1, CommandTimeout: time.Second, ShutdownTimeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c.IdentifyNamespaceIDs(ctx, 1)
		c.ActiveNamespaces(ctx, 0)
		for range c.Events() {
		}
		c.Close()
		if ctx.Err() != nil {
			t.Fatal("the host waited past 10 s")
		}
	})
}
