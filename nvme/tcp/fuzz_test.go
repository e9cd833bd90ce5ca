package tcp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

func captureSeed(f *testing.F, file string, skip int) {
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[skip:min(len(b), skip+8192)])
}

// FuzzServeTarget feeds arbitrary host bytes to ServeTarget: it must
// return, never panic or hang, and leave no goroutine behind.
func FuzzServeTarget(f *testing.F) {
	captureSeed(f, "linux-nodigest.h2c", 0)
	captureSeed(f, "linux-digests.h2c", 0)
	cmd := nvme.Command{Opcode: nvme.OpWrite, NSID: 1}
	cmd.SetSGL(nvme.SGL{Length: 8192, Type: nvme.SGLTransportDataBlock})
	b := appendConnect(tcp.AppendICReq(nil, tcp.ICReq{}))
	f.Add(b)
	f.Add(append(b, tcp.AppendICReq(nil, tcp.ICReq{})...))
	b = tcp.Digests{}.AppendCapsuleCmd(b, &cmd, nil)
	f.Add(tcp.Digests{}.AppendData(b, tcp.TypeH2CData, tcp.FlagDataLast, tcp.DataHeader{TTag: 1}, make([]byte, 8192)))
	f.Fuzz(func(t *testing.T, stream []byte) {
		host, ctrl := net.Pipe()
		done := make(chan error, 1)
		go func() {
			done <- tcp.ServeTarget(context.Background(), ctrl, tcp.TargetConfig{MaxTransfer: 64 << 10, WriteBudget: 64 << 10}, HandlerIdentify)
		}()
		drained := make(chan struct{})
		go func() { io.Copy(io.Discard, host); close(drained) }()
		go func() {
			host.Write(stream)
			host.Close()
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second): // nothing in the stream waits that long
			buf := make([]byte, 1<<20)
			t.Fatalf("ServeTarget hangs:\n%s", buf[:runtime.Stack(buf, true)])
		}
		<-drained
	})
}

// FuzzHostQueue feeds arbitrary controller bytes, after a valid ICResp, to
// a host queue with a read and a write outstanding, with or without
// digests: both calls must return, with an error or success, a successful
// read must have received its whole buffer, and the queue must stop
// cleanly.
func FuzzHostQueue(f *testing.F) {
	b, err := os.ReadFile("testdata/linux-nodigest.c2h")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[tcp.ICLen:min(len(b), tcp.ICLen+8192)], false)
	b, err = os.ReadFile("testdata/linux-digests.c2h")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[tcp.ICLen:min(len(b), tcp.ICLen+8192)], true)
	for _, d := range []tcp.Digests{{}, {Header: true, Data: true}} {
		withDigests := d.Header
		f.Add(d.AppendData(nil, tcp.TypeC2HData, tcp.FlagDataLast|tcp.FlagDataSuccess, tcp.DataHeader{}, make([]byte, 4096)), withDigests)
		f.Add(d.AppendData(nil, tcp.TypeR2T, 0, tcp.DataHeader{CID: 1, Length: 4096}, nil), withDigests)
		short := d.AppendData(nil, tcp.TypeC2HData, tcp.FlagDataLast, tcp.DataHeader{}, make([]byte, 100))
		f.Add(d.AppendCapsuleResp(short, &nvme.Completion{}), withDigests)
		bad := d.AppendData(nil, tcp.TypeC2HData, tcp.FlagDataLast, tcp.DataHeader{}, make([]byte, 4096))
		bad[len(bad)-1] ^= 1
		f.Add(d.AppendCapsuleResp(bad, &nvme.Completion{}), withDigests)
	}
	f.Fuzz(func(t *testing.T, stream []byte, digests bool) {
		host, ctrl := net.Pipe()
		fake := make(chan struct{})
		go func() {
			defer close(fake)
			defer ctrl.Close()
			if _, err := io.ReadFull(ctrl, make([]byte, tcp.ICLen)); err != nil {
				return
			}
			drained := make(chan struct{})
			go func() { io.Copy(io.Discard, ctrl); close(drained) }()
			var dg uint8
			if digests {
				dg = tcp.DigestHeader | tcp.DigestData
			}
			ctrl.Write(tcp.AppendICResp(nil, tcp.ICResp{Digests: dg, MaxH2CData: 8192}))
			ctrl.Write(stream)
			ctrl.Close()
			<-drained
		}()
		q, err := tcp.NewHostQueue(context.Background(), host, tcp.HostConfig{Depth: 4, HeaderDigest: digests, DataDigest: digests})
		if err == nil {
			ctx := context.Background()
			cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
			old := make([]byte, 4096) // a reused buffer's bytes, which no stream can guess
			rand.Read(old)
			buf := bytes.Clone(old)
			read := q.Start(ctx, &cmd, buf)
			w := nvme.Command{Opcode: nvme.OpWrite}
			write := q.Start(ctx, &w, make([]byte, 16384))
			if _, err := read.Wait(ctx); err == nil && bytes.Equal(buf[4096-64:], old[4096-64:]) {
				t.Fatal("read succeeded without receiving the end of its buffer")
			}
			write.Wait(ctx)
			q.Close()
		}
		<-fake
	})
}
