package target

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// FuzzCommand feeds arbitrary commands and data to an enabled controller's
// admin queue, to one of its I/O queues, to a discovery controller and to
// a connection not connected yet (Connect with any data: unknown NQNs,
// refused hosts) of a target with two subsystems, allowed hosts and a
// referral: every command must complete with a status, never panic or
// hang.
func FuzzCommand(f *testing.F) {
	const (
		onAdmin = iota
		onIO
		onDiscovery
		onNew
		queues
	)
	seed := func(cmd *nvme.Command, data []byte, queue uint8) {
		b, _ := cmd.MarshalBinary()
		f.Add(b, data, queue)
	}
	seed(identifyCmd(nvme.CNSController, 0), nil, onAdmin)
	seed(identifyCmd(nvme.CNSActiveNamespaces, 0xfffffffe), nil, onAdmin)
	seed(identifyCmd(nvme.CNSNSDescriptors, 1), nil, onAdmin)
	seed(getLogCmd(nvme.LogChangedNamespace, 4096, 0, false), nil, onAdmin)
	seed(getLogCmd(nvme.LogSMART, 512, 508, true), nil, onAdmin)
	seed(&nvme.Command{Opcode: nvme.OpSetFeatures, CDW10: nvme.FeatureNumberOfQueues, CDW11: 0xffff}, nil, onAdmin)
	seed(&nvme.Command{Opcode: nvme.OpFabrics, NSID: uint32(nvme.FabricsPropertySet), CDW11: nvme.PropCC, CDW12: 0x4001}, nil, onAdmin)
	seed(connectCmd(1, 31, 0), connectDataBytes(1, DefaultNQN, testHostNQN), onIO)
	seed(readCmd(1, 0, 8), nil, onIO)
	seed(writeCmd(1, 1<<21-1, 1), make([]byte, 512), onIO)
	seed(writeZeroesCmd(1, 1<<21-1, 0xffff), nil, onIO)
	dsm := dsmCmd(1, 2, true)
	dsm.SetSGL(nvme.SGL{Length: 32, Type: nvme.SGLDataBlockOffset})
	seed(dsm, nvme.AppendDSMRanges(nil, nvme.DSMRange{SLBA: 1, Length: 8}, nvme.DSMRange{SLBA: 1<<21 - 1, Length: 1}), onIO)
	seed(getLogCmd(nvme.LogDiscovery, 4096, 0, false), nil, onDiscovery)
	seed(getLogCmd(nvme.LogDiscovery, 1024, 2048, false), nil, onDiscovery)
	seed(getLogCmd(nvme.LogDiscovery, 16, 1<<40, false), nil, onDiscovery)
	seed(connectCmd(0, 31, 0), connectDataBytes(nvme.DynamicController, fuzzNQN2, testHostNQN), onNew)
	seed(connectCmd(0, 31, 0), connectDataBytes(nvme.DynamicController, fuzzNQN2, "nqn.2014-08.org.nvmexpress:other"), onNew)
	seed(connectCmd(0, 31, 0), connectDataBytes(nvme.DynamicController, nvme.DiscoveryNQN, ""), onNew)

	tg := newTarget(f, Config{
		Subsystems: []SubsystemConfig{
			{NQN: DefaultNQN, Namespaces: 2},
			{NQN: fuzzNQN2, Namespaces: 1, AllowedHosts: []string{testHostNQN}, NamespaceList: []Namespace{{NSID: 9}}},
		},
		Referrals: []Referral{{Addr: "[::1]:8009"}},
	})
	defer tg.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing may wait: service time and faults are off, AERs are skipped
	port := &Port{id: 1, addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4420}}
	newConn := func() *conn {
		return &conn{t: tg, kill: func() {}, remote: &net.TCPAddr{}, local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, port: port}
	}
	connected := func(qid, cntlid uint16, nqn string) *conn {
		q := newConn()
		if r := q.serve(ctx, connectCmd(qid, 31, 0), connectDataBytes(cntlid, nqn, testHostNQN)); r.status != 0 {
			f.Fatal(r.status)
		}
		return q
	}
	var qs [queues]*conn
	qs[onAdmin] = connected(0, nvme.DynamicController, DefaultNQN)
	qs[onAdmin].bound.Load().ctrl.setCC(ccEnable)
	qs[onIO] = connected(1, qs[onAdmin].bound.Load().ctrl.id, DefaultNQN)
	qs[onDiscovery] = connected(0, nvme.DynamicController, nvme.DiscoveryNQN)
	qs[onDiscovery].bound.Load().ctrl.setCC(nvme.CCEnable)
	f.Fuzz(func(t *testing.T, sqe, data []byte, queue uint8) {
		var cmd nvme.Command
		if cmd.UnmarshalBinary(sqe) != nil || cmd.Opcode == nvme.OpAsyncEvent {
			return
		}
		if cmd.Opcode == nvme.OpFabrics && cmd.FabricsType() == nvme.FabricsPropertySet {
			return // a reset or shutdown would end the session the fuzzer relies on
		}
		queue %= queues
		q := qs[queue]
		if queue == onNew {
			q = newConn()
			defer q.release() // a controller it created goes
		}
		served := make(chan response, 1)
		go func() { served <- q.serve(ctx, &cmd, data) }()
		var r response
		select {
		case r = <-served:
		case <-time.After(2 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("hang: %s", buf[:runtime.Stack(buf, true)])
		}
		if r.status == 0 && len(r.data) > maxTransfer {
			t.Fatalf("%d bytes returned", len(r.data))
		}
		if r.release != nil {
			r.release(r.data)
		}
	})
}

const fuzzNQN2 = "nqn.2026-01.io.example:fuzz2"

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
