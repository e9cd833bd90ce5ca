package target

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// FuzzCommand feeds arbitrary commands and data to an enabled controller's
// admin queue and to one of its I/O queues: every command must complete
// with a status, never panic or hang.
func FuzzCommand(f *testing.F) {
	seed := func(cmd *nvme.Command, data []byte, io bool) {
		b, _ := cmd.MarshalBinary()
		f.Add(b, data, io)
	}
	seed(identifyCmd(nvme.CNSController, 0), nil, false)
	seed(identifyCmd(nvme.CNSActiveNamespaces, 0xfffffffe), nil, false)
	seed(identifyCmd(nvme.CNSNSDescriptors, 1), nil, false)
	seed(getLogCmd(nvme.LogChangedNamespace, 4096, 0, false), nil, false)
	seed(getLogCmd(nvme.LogSMART, 512, 508, true), nil, false)
	seed(&nvme.Command{Opcode: nvme.OpSetFeatures, CDW10: nvme.FeatureNumberOfQueues, CDW11: 0xffff}, nil, false)
	seed(&nvme.Command{Opcode: nvme.OpFabrics, NSID: uint32(nvme.FabricsPropertySet), CDW11: nvme.PropCC, CDW12: 0x4001}, nil, false)
	seed(connectCmd(1, 31, 0), connectDataBytes(1, DefaultNQN, testHostNQN), true)
	seed(readCmd(1, 0, 8), nil, true)
	seed(writeCmd(1, 1<<21-1, 1), make([]byte, 512), true)

	tg := newTarget(f, Config{Namespaces: 2})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing may wait: service time and faults are off, AERs are skipped
	aq := &conn{t: tg, kill: func() {}, remote: &net.TCPAddr{}, local: &net.TCPAddr{}, port: &Port{id: 1, addr: &net.TCPAddr{}}}
	if r := aq.serve(ctx, connectCmd(0, 31, 0), connectDataBytes(nvme.DynamicController, DefaultNQN, testHostNQN)); r.status != 0 {
		f.Fatal(r.status)
	}
	aq.ctrl.setCC(ccEnable)
	ioq := &conn{t: tg, kill: func() {}, remote: &net.TCPAddr{}, local: &net.TCPAddr{}, port: &Port{id: 1, addr: &net.TCPAddr{}}}
	if r := ioq.serve(ctx, connectCmd(1, 31, 0), connectDataBytes(aq.ctrl.id, DefaultNQN, testHostNQN)); r.status != 0 {
		f.Fatal(r.status)
	}
	f.Fuzz(func(t *testing.T, sqe, data []byte, io bool) {
		var cmd nvme.Command
		if cmd.UnmarshalBinary(sqe) != nil || cmd.Opcode == nvme.OpAsyncEvent {
			return
		}
		if cmd.Opcode == nvme.OpFabrics && cmd.FabricsType() == nvme.FabricsPropertySet {
			return // a reset or shutdown would end the session the fuzzer relies on
		}
		q := aq
		if io {
			q = ioq
		}
		r := q.serve(ctx, &cmd, data)
		if r.status == 0 && len(r.data) > maxTransfer {
			t.Fatalf("%d bytes returned", len(r.data))
		}
	})
}

// FuzzTransport feeds an arbitrary byte stream, after a valid ICReq, to the
// target side of a connection: it must end the connection with an error,
// never panic, hang or allocate without bound.
func FuzzTransport(f *testing.F) {
	pdu := func(typ byte, hlen int, body []byte, data []byte) []byte {
		b := make([]byte, 8, 8+len(body)+len(data))
		b[0], b[2] = typ, byte(hlen)
		if len(data) > 0 {
			b[3] = byte(hlen)
		}
		b = append(append(b, body...), data...)
		binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
		return b
	}
	sqe := func(cmd *nvme.Command) []byte { b, _ := cmd.MarshalBinary(); return b }
	conn := connectCmd(0, 31, 0)
	conn.SetSGL(nvme.SGL{Length: nvme.ConnectDataSize, Type: nvme.SGLDataBlockOffset})
	connect := pdu(byte(tcp.TypeCapsuleCmd), 72, sqe(conn), connectDataBytes(nvme.DynamicController, DefaultNQN, testHostNQN))
	f.Add(connect)
	f.Add(append(connect, pdu(byte(tcp.TypeCapsuleCmd), 72, sqe(identifyCmd(nvme.CNSController, 0)), nil)...))
	w := writeCmd(1, 0, 8)
	w.SetSGL(nvme.SGL{Length: 4096, Type: nvme.SGLTransportDataBlock})
	f.Add(append(connect, pdu(byte(tcp.TypeCapsuleCmd), 72, sqe(w), nil)...))
	h2c := make([]byte, 16)
	binary.LittleEndian.PutUint16(h2c[2:], 1)
	binary.LittleEndian.PutUint32(h2c[8:], 4096)
	f.Add(append(append(connect, pdu(byte(tcp.TypeCapsuleCmd), 72, sqe(w), nil)...), pdu(byte(tcp.TypeH2CData), 24, h2c, make([]byte, 4096))...))
	f.Add([]byte{4, 0, 72, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{6, 0, 24, 0, 24, 0, 0, 0})

	tg := newTarget(f, Config{Namespaces: 1})
	defer tg.Close()
	f.Fuzz(func(t *testing.T, stream []byte) {
		host, tgt := net.Pipe()
		done := make(chan struct{})
		go func() {
			tg.serveConn(context.Background(), tgt, &Port{id: 1, addr: &net.TCPAddr{}})
			close(done)
		}()
		go io.Copy(io.Discard, host)
		icreq := make([]byte, 128)
		icreq[2] = 128
		binary.LittleEndian.PutUint32(icreq[4:], 128)
		host.Write(icreq)
		host.Write(stream)
		host.Close()
		<-done
	})
}
