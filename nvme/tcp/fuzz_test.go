package tcp_test

import (
	"context"
	"io"
	"net"
	"os"
	"testing"

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
	b := tcp.AppendICReq(nil, tcp.ICReq{})
	b = tcp.Digests{}.AppendCapsuleCmd(b, &cmd, nil)
	f.Add(tcp.Digests{}.AppendData(b, tcp.TypeH2CData, tcp.FlagDataLast, tcp.DataHeader{TTag: 1}, make([]byte, 8192)))
	f.Fuzz(func(t *testing.T, stream []byte) {
		host, ctrl := net.Pipe()
		done := make(chan error, 1)
		go func() {
			done <- tcp.ServeTarget(context.Background(), ctrl, tcp.TargetConfig{MaxTransfer: 64 << 10}, HandlerIdentify)
		}()
		drained := make(chan struct{})
		go func() { io.Copy(io.Discard, host); close(drained) }()
		host.Write(stream)
		host.Close()
		<-done
		<-drained
	})
}

// FuzzHostQueue feeds arbitrary controller bytes, after a valid ICResp, to
// a host queue with one command outstanding: Do must return, and the queue
// must stop cleanly.
func FuzzHostQueue(f *testing.F) {
	captureSeed(f, "linux-nodigest.c2h", tcp.ICLen)
	var d tcp.Digests
	f.Add(d.AppendData(nil, tcp.TypeC2HData, tcp.FlagDataLast|tcp.FlagDataSuccess, tcp.DataHeader{}, make([]byte, 4096)))
	f.Add(d.AppendData(nil, tcp.TypeR2T, 0, tcp.DataHeader{Length: 4096}, nil))
	f.Fuzz(func(t *testing.T, stream []byte) {
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
			ctrl.Write(tcp.AppendICResp(nil, tcp.ICResp{MaxH2CData: 8192}))
			ctrl.Write(stream)
			ctrl.Close()
			<-drained
		}()
		q, err := tcp.NewHostQueue(context.Background(), host, tcp.HostConfig{Depth: 4})
		if err == nil {
			cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
			q.Do(context.Background(), &cmd, make([]byte, 4096))
			w := nvme.Command{Opcode: nvme.OpWrite}
			q.Do(context.Background(), &w, make([]byte, 16384))
			q.Close()
		}
		<-fake
	})
}
