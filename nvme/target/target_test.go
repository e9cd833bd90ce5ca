package target

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testHostNQN = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001"

// newTarget returns New(cfg), failing the test if cfg is invalid.
func newTarget(t testing.TB, cfg Config) *Target {
	t.Helper()
	tg, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// startTarget serves cfg on a loopback port for the duration of the test.
func startTarget(t testing.TB, cfg Config) (*Target, string) {
	t.Helper()
	tg := newTarget(t, cfg)
	addr, err := tg.Start(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg, addr
}

// dial opens a host queue to addr, closed at the end of the test.
func dial(t testing.TB, addr string, cfg tcp.HostConfig) *tcp.HostQueue {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	q, err := tcp.NewHostQueue(context.Background(), nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func connectCmd(qid, sqsize uint16, kato time.Duration) *nvme.Command {
	return &nvme.Command{
		Opcode: nvme.OpFabrics, NSID: uint32(nvme.FabricsConnect),
		CDW10: uint32(qid) << 16, CDW11: uint32(sqsize), CDW12: uint32(kato / time.Millisecond),
	}
}

func connectDataBytes(cntlid uint16, subnqn, hostnqn string) []byte {
	d := make([]byte, nvme.ConnectDataSize)
	d[0] = 0xab // host ID
	binary.LittleEndian.PutUint16(d[16:], cntlid)
	copy(d[256:], subnqn)
	copy(d[512:], hostnqn)
	return d
}

// connect sends Connect for qid and returns its completion.
func connect(q *tcp.HostQueue, qid uint16, cntlid uint16, subnqn string, kato time.Duration) (nvme.Completion, error) {
	return q.Do(context.Background(), connectCmd(qid, 31, kato), connectDataBytes(cntlid, subnqn, testHostNQN))
}

func propGet(t testing.TB, q *tcp.HostQueue, off uint32, eight bool) uint64 {
	t.Helper()
	cmd := &nvme.Command{Opcode: nvme.OpFabrics, NSID: uint32(nvme.FabricsPropertyGet), CDW11: off}
	if eight {
		cmd.CDW10 = 1
	}
	c, err := q.Do(context.Background(), cmd, nil)
	if err != nil {
		t.Fatalf("property get %#x: %v", off, err)
	}
	return c.Result
}

func propSet(q *tcp.HostQueue, off uint32, v uint32) error {
	cmd := &nvme.Command{Opcode: nvme.OpFabrics, NSID: uint32(nvme.FabricsPropertySet), CDW11: off, CDW12: v}
	_, err := q.Do(context.Background(), cmd, nil)
	return err
}

const ccEnable = nvme.CCEnable | nvme.CCIOSQES | nvme.CCIOCQES

// admin connects an admin queue to subnqn and enables the controller.
func admin(t testing.TB, addr, subnqn string, kato time.Duration) (*tcp.HostQueue, uint16) {
	t.Helper()
	q := dial(t, addr, tcp.HostConfig{})
	c, err := connect(q, 0, nvme.DynamicController, subnqn, kato)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if err := propSet(q, nvme.PropCC, ccEnable); err != nil {
		t.Fatalf("enable: %v", err)
	}
	if csts := propGet(t, q, nvme.PropCSTS, false); csts&nvme.CSTSReady == 0 {
		t.Fatalf("CSTS = %#x after CC.EN, want RDY", csts)
	}
	return q, uint16(c.Result)
}

func identifyCmd(cns nvme.CNS, nsid uint32) *nvme.Command {
	return &nvme.Command{Opcode: nvme.OpIdentify, NSID: nsid, CDW10: uint32(cns)}
}

func identify(q *tcp.HostQueue, cns nvme.CNS, nsid uint32) ([]byte, error) {
	b := make([]byte, nvme.IdentifySize)
	_, err := q.Do(context.Background(), identifyCmd(cns, nsid), b)
	return b, err
}

func getLogCmd(lid uint8, n int, off uint64, rae bool) *nvme.Command {
	numd := uint32(n/4 - 1)
	c := &nvme.Command{Opcode: nvme.OpGetLogPage, NSID: nvme.NSIDAll,
		CDW10: uint32(lid) | numd<<16, CDW11: numd >> 16, CDW12: uint32(off), CDW13: uint32(off >> 32)}
	if rae {
		c.CDW10 |= 1 << 15
	}
	return c
}

func getLog(q *tcp.HostQueue, lid uint8, n int, off uint64, rae bool) ([]byte, error) {
	b := make([]byte, n)
	_, err := q.Do(context.Background(), getLogCmd(lid, n, off, rae), b)
	return b, err
}

// cString returns the bytes of b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func wantStatus(t testing.TB, err error, want nvme.Status) {
	t.Helper()
	var st nvme.Status
	if !errors.As(err, &st) {
		t.Fatalf("error %v, want NVMe status %v", err, want)
	}
	if st.Code() != want.Code() {
		t.Fatalf("status %v, want %v", st, want)
	}
}

func TestConnectFlow(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 3})
	q := dial(t, addr, tcp.HostConfig{})

	// Commands before Connect are refused.
	_, err := identify(q, nvme.CNSController, 0)
	wantStatus(t, err, nvme.StatusCommandSequenceError)

	c, err := connect(q, 0, nvme.DynamicController, tg.NQN(), 0)
	if err != nil {
		t.Fatal(err)
	}
	cntlid := uint16(c.Result)
	if cntlid == 0 || cntlid > maxCntlid {
		t.Fatalf("cntlid %d", cntlid)
	}
	if c.SQHead != 2 { // Identify, then Connect taken from the 32-entry queue
		t.Errorf("SQHD %d after two commands", c.SQHead)
	}
	cap := propGet(t, q, nvme.PropCAP, true)
	if mqes := cap & 0xffff; mqes != DefaultIOQueueDepth-1 {
		t.Errorf("CAP.MQES = %d, want %d", mqes, DefaultIOQueueDepth-1)
	}
	if cap&(1<<37) == 0 {
		t.Errorf("CAP.CSS lacks NVM: %#x", cap)
	}
	if vs := propGet(t, q, nvme.PropVS, false); vs != 0x10400 {
		t.Errorf("VS = %#x", vs)
	}
	if err := propSet(q, nvme.PropCC, ccEnable); err != nil {
		t.Fatal(err)
	}
	id, err := identify(q, nvme.CNSController, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint16(id[78:]); got != cntlid {
		t.Errorf("Identify CNTLID %d, Connect said %d", got, cntlid)
	}
	if got := cString(id[768:1024]); got != tg.NQN() {
		t.Errorf("SUBNQN %q", got)
	}
	if kas := binary.LittleEndian.Uint16(id[320:]); kas == 0 {
		t.Error("KAS = 0: Linux refuses fabrics controllers without keep alive")
	}
	if sgls := binary.LittleEndian.Uint32(id[536:]); sgls&3 == 0 {
		t.Error("SGLS: no SGL support")
	}

	// Number of Queues, then an I/O queue.
	fc, err := q.Do(context.Background(), &nvme.Command{Opcode: nvme.OpSetFeatures, CDW10: nvme.FeatureNumberOfQueues, CDW11: 3 | 3<<16}, nil)
	if err != nil || fc.Result != 3|3<<16 {
		t.Fatalf("Number of Queues: %#x, %v", fc.Result, err)
	}
	io := dial(t, addr, tcp.HostConfig{})
	if c, err := connect(io, 1, cntlid, tg.NQN(), 0); err != nil || uint16(c.Result) != cntlid {
		t.Fatalf("I/O connect: %v (cntlid %d)", err, c.Result)
	}
	// The same queue twice is refused; a queue above the granted count too.
	_, err = connect(dial(t, addr, tcp.HostConfig{}), 1, cntlid, tg.NQN(), 0)
	wantStatus(t, err, nvme.StatusCommandSequenceError)
	_, err = connect(dial(t, addr, tcp.HostConfig{}), 5, cntlid, tg.NQN(), 0)
	wantStatus(t, err, nvme.StatusConnectInvalidParam)

	sector := make([]byte, 512)
	if _, err := io.Do(context.Background(), readCmd(1, 0, 1), sector); err != nil {
		t.Fatal(err)
	}
}

func TestConnectRejects(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 1})
	_, cntlid := admin(t, addr, tg.NQN(), 0)
	tests := []struct {
		name    string
		cmd     *nvme.Command
		data    []byte
		want    nvme.Status
		wantIPO uint64
	}{
		{"wrong NQN", connectCmd(0, 31, 0), connectDataBytes(nvme.DynamicController, "nqn.2026-01.io.example:nope", testHostNQN),
			nvme.StatusConnectInvalidParam, uint64(nvme.ConnectParamSUBNQN)},
		{"admin with static cntlid", connectCmd(0, 31, 0), connectDataBytes(1, tg.NQN(), testHostNQN),
			nvme.StatusConnectInvalidParam, uint64(nvme.ConnectParamCNTLID)},
		{"sqsize 0", connectCmd(0, 0, 0), connectDataBytes(nvme.DynamicController, tg.NQN(), testHostNQN),
			nvme.StatusConnectInvalidParam, uint64(nvme.ConnectParamSQSIZE)},
		{"admin sqsize above ASQSZ", connectCmd(0, DefaultAdminQueueDepth, 0), connectDataBytes(nvme.DynamicController, tg.NQN(), testHostNQN),
			nvme.StatusConnectInvalidParam, uint64(nvme.ConnectParamSQSIZE)},
		{"admin sqsize FFFFh", connectCmd(0, 0xffff, 0), connectDataBytes(nvme.DynamicController, tg.NQN(), testHostNQN),
			nvme.StatusConnectInvalidParam, uint64(nvme.ConnectParamSQSIZE)},
		{"I/O sqsize above MQES", connectCmd(1, DefaultIOQueueDepth, 0), connectDataBytes(cntlid, tg.NQN(), testHostNQN),
			nvme.StatusConnectInvalidParam, uint64(nvme.ConnectParamSQSIZE)},
		{"I/O queue of unknown controller", connectCmd(1, 31, 0), connectDataBytes(cntlid+100, tg.NQN(), testHostNQN),
			nvme.StatusConnectInvalidParam, uint64(nvme.ConnectParamCNTLID)},
		{"I/O queue of another host", connectCmd(1, 31, 0), connectDataBytes(cntlid, tg.NQN(), "nqn.2014-08.org.nvmexpress:other"),
			nvme.StatusConnectInvalidParam, uint64(nvme.ConnectParamCNTLID)},
		{"record format 1", &nvme.Command{Opcode: nvme.OpFabrics, NSID: uint32(nvme.FabricsConnect), CDW10: 1, CDW11: 31},
			connectDataBytes(nvme.DynamicController, tg.NQN(), testHostNQN), nvme.StatusConnectIncompatible, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := dial(t, addr, tcp.HostConfig{})
			c, err := q.Do(context.Background(), tt.cmd, tt.data)
			wantStatus(t, err, tt.want)
			if tt.want == nvme.StatusConnectInvalidParam && c.Result != tt.wantIPO {
				t.Errorf("result %#x, want IATTR/IPO %#x", c.Result, tt.wantIPO)
			}
		})
	}
}

func TestPropertyStateMachine(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 1})
	q := dial(t, addr, tcp.HostConfig{})
	if _, err := connect(q, 0, nvme.DynamicController, tg.NQN(), 0); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name     string
		cc       uint32
		wantCSTS uint64
		ready    bool // admin commands accepted
	}{
		{"disabled", 0, 0, false},
		{"bad page size", ccEnable | 1<<7, nvme.CSTSFatal, false},
		{"reset", 0, 0, false},
		{"enable", ccEnable, nvme.CSTSReady, true},
		{"shutdown", ccEnable | nvme.CCShnNormal, nvme.CSTSReady | nvme.CSTSShstDone, false},
		{"shutdown cleared", ccEnable, nvme.CSTSReady, true},
		{"disable", 0, 0, false},
		{"enable again", ccEnable, nvme.CSTSReady, true},
	}
	for _, s := range steps {
		if err := propSet(q, nvme.PropCC, s.cc); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := propGet(t, q, nvme.PropCC, false); got != uint64(s.cc) {
			t.Errorf("%s: CC = %#x, want %#x", s.name, got, s.cc)
		}
		if got := propGet(t, q, nvme.PropCSTS, false); got != s.wantCSTS {
			t.Errorf("%s: CSTS = %#x, want %#x", s.name, got, s.wantCSTS)
		}
		_, err := identify(q, nvme.CNSController, 0)
		if s.ready && err != nil {
			t.Errorf("%s: identify: %v", s.name, err)
		}
		if !s.ready {
			wantStatus(t, err, nvme.StatusCommandSequenceError)
		}
	}
	// Only CC is writable, and only with 4-byte access; CAP reads as 8 bytes.
	for _, off := range []uint32{nvme.PropCAP, nvme.PropVS, nvme.PropCSTS, 0x24} {
		wantStatus(t, propSet(q, off, 1), nvme.StatusInvalidField)
	}
	cmd := &nvme.Command{Opcode: nvme.OpFabrics, NSID: uint32(nvme.FabricsPropertyGet), CDW10: 1, CDW11: nvme.PropCC}
	_, err := q.Do(context.Background(), cmd, nil)
	wantStatus(t, err, nvme.StatusInvalidField)
	if lo, hi := propGet(t, q, nvme.PropCAP, false), propGet(t, q, nvme.PropCAP+4, false); lo|hi<<32 != propGet(t, q, nvme.PropCAP, true) {
		t.Errorf("CAP halves %#x %#x disagree with the 8-byte read", lo, hi)
	}
}

func TestIdentify(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 3, MaxNSID: 2000})
	for _, id := range []uint32{1500, 1200} {
		if err := tg.Attach(Namespace{NSID: id, BlockSize: 4096, Size: 1 << 40}); err != nil {
			t.Fatal(err)
		}
	}
	// NSID 10 has only an EUI64 and a UUID of zeros; NSID 11 has none.
	if err := tg.Attach(Namespace{NSID: 10, Omit: IDNGUID, Zero: IDUUID}); err != nil {
		t.Fatal(err)
	}
	if err := tg.Attach(Namespace{NSID: 11, Omit: IDNGUID | IDEUI64 | IDUUID}); err != nil {
		t.Fatal(err)
	}
	_, eui10, _ := deriveIDs(tg.NQN(), 10)
	q, _ := admin(t, addr, tg.NQN(), 0)
	le := binary.LittleEndian
	nguid, eui, uuid := deriveIDs(tg.NQN(), 2)
	tests := []struct {
		name  string
		cns   nvme.CNS
		nsid  uint32
		want  nvme.Status
		check func(t *testing.T, b []byte)
	}{
		{"controller", nvme.CNSController, 0, 0, func(t *testing.T, b []byte) {
			if nn := le.Uint32(b[516:]); nn != 2000 {
				t.Errorf("NN %d", nn)
			}
			if ver := le.Uint32(b[80:]); ver != nvmeVersion {
				t.Errorf("VER %#x", ver)
			}
			if oaes := le.Uint32(b[92:]); oaes&nvme.AsyncEventNamespaceChanged == 0 {
				t.Errorf("OAES %#x lacks namespace attribute notices", oaes)
			}
			if b[111] != 1 {
				t.Errorf("CNTRLTYPE %d", b[111])
			}
		}},
		{"namespace 2", nvme.CNSNamespace, 2, 0, func(t *testing.T, b []byte) {
			if nsze := le.Uint64(b); nsze != DefaultNSSize/512 {
				t.Errorf("NSZE %d", nsze)
			}
			if lbads := b[130]; lbads != 9 {
				t.Errorf("LBADS %d", lbads)
			}
			if !bytes.Equal(b[104:120], nguid[:]) || !bytes.Equal(b[120:128], eui[:]) {
				t.Errorf("NGUID/EUI64 % x / % x", b[104:120], b[120:128])
			}
		}},
		{"namespace 1500 (1 TiB, 4 KiB blocks)", nvme.CNSNamespace, 1500, 0, func(t *testing.T, b []byte) {
			if nsze := le.Uint64(b); nsze != 1<<40/4096 || b[130] != 12 {
				t.Errorf("NSZE %d LBADS %d", nsze, b[130])
			}
		}},
		{"inactive namespace is zeros", nvme.CNSNamespace, 7, 0, func(t *testing.T, b []byte) {
			if !bytes.Equal(b, make([]byte, nvme.IdentifySize)) {
				t.Error("not zero-filled")
			}
		}},
		{"NSID 0", nvme.CNSNamespace, 0, nvme.StatusInvalidNamespace, nil},
		{"NSID above NN", nvme.CNSNamespace, 2001, nvme.StatusInvalidNamespace, nil},
		{"descriptors", nvme.CNSNSDescriptors, 2, 0, func(t *testing.T, b []byte) {
			want := append([]byte{1, 8, 0, 0}, eui[:]...)
			want = append(append(want, 2, 16, 0, 0), nguid[:]...)
			want = append(append(want, 3, 16, 0, 0), uuid[:]...)
			want = append(want, 4, 1, 0, 0, 0)
			if !bytes.Equal(b[:len(want)], want) || b[len(want)] != 0 {
				t.Errorf("descriptors % x", b[:len(want)+4])
			}
		}},
		{"descriptors of inactive namespace", nvme.CNSNSDescriptors, 7, nvme.StatusInvalidNamespace, nil},
		{"descriptors, NGUID omitted, UUID zero", nvme.CNSNSDescriptors, 10, 0, func(t *testing.T, b []byte) {
			want := append([]byte{1, 8, 0, 0}, eui10[:]...)
			want = append(want, 4, 1, 0, 0, 0)
			want = append(append(want, 3, 16, 0, 0), make([]byte, 16)...)
			if !bytes.Equal(b[:len(want)], want) || b[len(want)+1] != 0 {
				t.Errorf("descriptors % x", b[:len(want)+4])
			}
		}},
		{"namespace, NGUID omitted", nvme.CNSNamespace, 10, 0, func(t *testing.T, b []byte) {
			if !bytes.Equal(b[104:120], make([]byte, 16)) || !bytes.Equal(b[120:128], eui10[:]) {
				t.Errorf("NGUID/EUI64 % x / % x", b[104:120], b[120:128])
			}
		}},
		{"descriptors, all omitted", nvme.CNSNSDescriptors, 11, 0, func(t *testing.T, b []byte) {
			if want := []byte{4, 1, 0, 0, 0, 0}; !bytes.Equal(b[:len(want)], want) {
				t.Errorf("descriptors % x", b[:len(want)+4])
			}
		}},
		{"active list", nvme.CNSActiveNamespaces, 0, 0, func(t *testing.T, b []byte) {
			checkList(t, b, 1, 2, 3, 10, 11, 1200, 1500)
		}},
		{"active list after 2", nvme.CNSActiveNamespaces, 2, 0, func(t *testing.T, b []byte) {
			checkList(t, b, 3, 10, 11, 1200, 1500)
		}},
		{"active list after 1300", nvme.CNSActiveNamespaces, 1300, 0, func(t *testing.T, b []byte) {
			checkList(t, b, 1500)
		}},
		{"active list after 0xfffffffe", nvme.CNSActiveNamespaces, 0xfffffffe, nvme.StatusInvalidNamespace, nil},
		{"CS independent", nvme.CNSCSIndependentNS, 3, 0, func(t *testing.T, b []byte) {
			if b[14]&1 == 0 {
				t.Error("NSTAT: not ready")
			}
		}},
		{"CS independent, inactive", nvme.CNSCSIndependentNS, 9, 0, func(t *testing.T, b []byte) {
			if b[14] != 0 {
				t.Error("NSTAT set for an inactive namespace")
			}
		}},
		{"NVM controller", nvme.CNSCSController, 0, 0, nil},
		{"unsupported CNS", 0x10, 0, nvme.StatusInvalidField, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := identify(q, tt.cns, tt.nsid)
			if tt.want != 0 {
				wantStatus(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, b)
			}
		})
	}
}

func TestActiveListPages(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 2500})
	q, _ := admin(t, addr, tg.NQN(), 0)
	var all []uint32
	for after := uint32(0); ; {
		b, err := identify(q, nvme.CNSActiveNamespaces, after)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ; n < nvme.NSIDsPerList && binary.LittleEndian.Uint32(b[4*n:]) != 0; n++ {
			all = append(all, binary.LittleEndian.Uint32(b[4*n:]))
		}
		if n < nvme.NSIDsPerList {
			break
		}
		after = all[len(all)-1]
	}
	if len(all) != 2500 || all[0] != 1 || all[2499] != 2500 {
		t.Fatalf("listed %d NSIDs", len(all))
	}
}

func checkList(t *testing.T, b []byte, want ...uint32) {
	t.Helper()
	for i, w := range append(want, 0) {
		if got := binary.LittleEndian.Uint32(b[4*i:]); got != w {
			t.Fatalf("entry %d = %d, want %d (list %v)", i, got, w, want)
		}
	}
}

func TestLogPages(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 2})
	q, _ := admin(t, addr, tg.NQN(), 0)
	smart, err := getLog(q, nvme.LogSMART, nvme.SMARTLogSize, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if temp := binary.LittleEndian.Uint16(smart[1:]); temp != reportedTempKel || smart[3] != 100 {
		t.Errorf("SMART temperature %d spare %d", temp, smart[3])
	}
	if _, err := getLog(q, nvme.LogDiscovery, 1024, 0, false); err == nil {
		t.Error("discovery log served by an I/O controller")
	}
	if c, err := q.Do(context.Background(), &nvme.Command{Opcode: nvme.OpAbort, CDW10: 5}, nil); err != nil || c.Result&1 == 0 {
		t.Errorf("Abort: result %#x, %v; want not aborted", c.Result, err)
	}
	_, err = getLog(q, 0x7f, 512, 0, false)
	wantStatus(t, err, nvme.StatusInvalidLogPage)
	_, err = getLog(q, nvme.LogSMART, 512, 2, false)
	wantStatus(t, err, nvme.StatusInvalidField)
	// Offset into the SMART page: the counters at byte 64.
	part, err := getLog(q, nvme.LogSMART, 64, 64, false)
	if err != nil || !bytes.Equal(part, smart[64:128]) {
		t.Errorf("SMART at offset 64: % x, %v", part[:16], err)
	}
}

func TestDiscovery(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 2})
	q, cntlid := admin(t, addr, nvme.DiscoveryNQN, 0)
	id, err := identify(q, nvme.CNSController, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := cString(id[768:1024]); got != nvme.DiscoveryNQN || id[111] != 2 || binary.LittleEndian.Uint16(id[78:]) != cntlid {
		t.Errorf("discovery Identify: subnqn %q cntrltype %d", got, id[111])
	}
	// Read the header, then the whole page in 4 KiB pieces, as nvme-cli does.
	hdr, err := getLog(q, nvme.LogDiscovery, nvme.DiscoveryLogHeaderSize, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(hdr[8:]); n != 1 {
		t.Fatalf("numrec %d", n)
	}
	page, err := getLog(q, nvme.LogDiscovery, nvme.DiscoveryLogHeaderSize+nvme.DiscoveryEntrySize, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	e := page[nvme.DiscoveryLogHeaderSize:]
	host, port, _ := net.SplitHostPort(addr)
	_, _, entries, err := nvme.ParseDiscoveryLog(page)
	if err != nil || len(entries) != 1 || entries[0].ServiceID != port || entries[0].Address != host ||
		entries[0].SubsystemNQN != tg.NQN() || entries[0].AdminQueueMax != DefaultAdminQueueDepth {
		t.Errorf("discovery log decodes to %+v, %v", entries, err)
	}
	if e[0] != 3 || e[1] != 1 || e[2] != 2 || binary.LittleEndian.Uint16(e[6:]) != nvme.DynamicController {
		t.Errorf("entry trtype %d adrfam %d subtype %d", e[0], e[1], e[2])
	}
	if got := string(bytes.TrimRight(e[32:64], " \x00")); got != port {
		t.Errorf("trsvcid %q, want %q", got, port)
	}
	if got := string(bytes.TrimRight(e[512:768], " \x00")); got != host {
		t.Errorf("traddr %q, want %q", got, host)
	}
	if got := cString(e[256:512]); got != tg.NQN() {
		t.Errorf("subnqn %q", got)
	}
	tail, err := getLog(q, nvme.LogDiscovery, 512, nvme.DiscoveryLogHeaderSize+256, false)
	if err != nil || !bytes.Equal(tail, e[256:768]) {
		t.Errorf("entry at offset: %v", err)
	}
	_, err = identify(q, nvme.CNSNamespace, 1)
	wantStatus(t, err, nvme.StatusInvalidField)
	_, err = q.Do(context.Background(), &nvme.Command{Opcode: nvme.OpSetFeatures, CDW10: nvme.FeatureNumberOfQueues, CDW11: 1}, nil)
	wantStatus(t, err, nvme.StatusInvalidField)
	// No I/O queues on a discovery controller.
	_, err = connect(dial(t, addr, tcp.HostConfig{}), 1, cntlid, nvme.DiscoveryNQN, 0)
	wantStatus(t, err, nvme.StatusConnectInvalidParam)
}

func enableAEN(t *testing.T, q *tcp.HostQueue) {
	t.Helper()
	if _, err := q.Do(context.Background(), &nvme.Command{Opcode: nvme.OpSetFeatures, CDW10: nvme.FeatureAsyncEvent, CDW11: nvme.AsyncEventNamespaceChanged}, nil); err != nil {
		t.Fatal(err)
	}
}

// aer sends an Asynchronous Event Request; its completion arrives on the
// returned channel.
func aer(ctx context.Context, q *tcp.HostQueue) <-chan error {
	ch := make(chan error, 1)
	go func() {
		c, err := q.Do(ctx, &nvme.Command{Opcode: nvme.OpAsyncEvent}, nil)
		if err == nil && c.Result != aenResultNSChange {
			err = errors.New("AER result " + strconv.FormatUint(c.Result, 16))
		}
		ch <- err
	}()
	return ch
}

func TestAttachDetachEvent(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 2})
	q, _ := admin(t, addr, tg.NQN(), 0)
	enableAEN(t, q)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	ev := aer(ctx, q)
	if err := tg.Attach(Namespace{NSID: 5}); err != nil {
		t.Fatal(err)
	}
	if err := <-ev; err != nil {
		t.Fatal(err)
	}
	if err := tg.Attach(Namespace{NSID: 5}); !errors.Is(err, ErrNamespaceExists) {
		t.Errorf("second attach: %v", err)
	}
	// Masked until the log is read: a detach now is reported later.
	ev = aer(ctx, q)
	if err := tg.Detach(2); err != nil {
		t.Fatal(err)
	}
	b, err := getLog(q, nvme.LogChangedNamespace, changedLogSize, 0, true) // RAE: stays masked
	if err != nil {
		t.Fatal(err)
	}
	checkList(t, b, 2, 5)
	b, err = getLog(q, nvme.LogChangedNamespace, changedLogSize, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	checkList(t, b, 2, 5)
	if err := <-ev; err != nil { // the detach, once unmasked
		t.Fatal(err)
	}
	b, err = getLog(q, nvme.LogChangedNamespace, changedLogSize, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	checkList(t, b)
	list, _ := identify(q, nvme.CNSActiveNamespaces, 0)
	checkList(t, list, 1, 5)
	if err := tg.Detach(2); !errors.Is(err, ErrNoNamespace) {
		t.Errorf("second detach: %v", err)
	}

	// At most four AERs outstanding: of five, one fails at once.
	results := make(chan error, 5)
	for range 5 {
		go func() {
			_, err := q.Do(ctx, &nvme.Command{Opcode: nvme.OpAsyncEvent}, nil)
			results <- err
		}()
	}
	wantStatus(t, <-results, nvme.StatusAsyncEventLimit)
	cancel()
	for range 4 {
		<-results
	}
}

func TestKeepAliveTimeout(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 1})
	q, cntlid := admin(t, addr, tg.NQN(), 100*time.Millisecond)
	if _, err := q.Do(context.Background(), &nvme.Command{Opcode: nvme.OpKeepAlive}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-q.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("controller not torn down after its keep alive timeout")
	}
	if tg.controller(cntlid) != nil {
		t.Error("controller still registered")
	}
	_, err := connect(dial(t, addr, tcp.HostConfig{}), 1, cntlid, tg.NQN(), 0)
	wantStatus(t, err, nvme.StatusConnectInvalidParam)
}

func readCmd(nsid uint32, slba uint64, nlb uint16) *nvme.Command {
	return &nvme.Command{Opcode: nvme.OpRead, NSID: nsid, CDW10: uint32(slba), CDW11: uint32(slba >> 32), CDW12: uint32(nlb - 1)}
}

func writeCmd(nsid uint32, slba uint64, nlb uint16) *nvme.Command {
	c := readCmd(nsid, slba, nlb)
	c.Opcode = nvme.OpWrite
	return c
}

// ioQueue connects an admin and one I/O queue.
func ioQueue(t testing.TB, addr, nqn string, cfg tcp.HostConfig) *tcp.HostQueue {
	t.Helper()
	_, cntlid := admin(t, addr, nqn, 0)
	q := dial(t, addr, cfg)
	if _, err := connect(q, 1, cntlid, nqn, 0); err != nil {
		t.Fatal(err)
	}
	return q
}

func TestReadWrite(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 1})
	const tib = 1 << 40
	if err := tg.Attach(Namespace{NSID: 2, Size: tib, BlockSize: 4096}); err != nil {
		t.Fatal(err)
	}
	for _, digests := range []bool{false, true} {
		t.Run("digests="+strconv.FormatBool(digests), func(t *testing.T) {
			q := ioQueue(t, addr, tg.NQN(), tcp.HostConfig{HeaderDigest: digests, DataDigest: digests})
			ctx := context.Background()
			last := uint64(tib/4096 - 16)
			data := bytes.Repeat([]byte("0123456789abcdef"), 16*4096/16) // 64 KiB: written via R2T
			if _, err := q.Do(ctx, writeCmd(2, last, 16), data); err != nil {
				t.Fatal(err)
			}
			small := bytes.Repeat([]byte{0x5a}, 512) // in-capsule
			if _, err := q.Do(ctx, writeCmd(1, 7, 1), small); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(data))
			if _, err := q.Do(ctx, readCmd(2, last, 16), got); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back: %v", err)
			}
			got = make([]byte, 1024)
			if _, err := q.Do(ctx, readCmd(1, 6, 2), got); err != nil || !bytes.Equal(got[512:], small) || !bytes.Equal(got[:512], make([]byte, 512)) {
				t.Fatalf("read back: %v", err)
			}
			if _, err := q.Do(ctx, &nvme.Command{Opcode: nvme.OpFlush, NSID: 2}, nil); err != nil {
				t.Fatal(err)
			}
			if n := tg.subs[0].namespace(2).data.(*memory).allocated(); n > 1<<20 {
				t.Errorf("1 TiB namespace holds %d bytes after a 64 KiB write", n)
			}
		})
	}
	q := ioQueue(t, addr, tg.NQN(), tcp.HostConfig{})
	ctx := context.Background()
	bad := []struct {
		name string
		cmd  *nvme.Command
		buf  []byte
		want nvme.Status
	}{
		{"read past the end", readCmd(2, tib/4096-1, 2), make([]byte, 8192), nvme.StatusLBAOutOfRange},
		{"read at huge LBA", readCmd(2, 1<<63, 1), make([]byte, 4096), nvme.StatusLBAOutOfRange},
		{"write past the end", writeCmd(1, DefaultNSSize/512, 1), make([]byte, 512), nvme.StatusLBAOutOfRange},
		{"inactive namespace", readCmd(3, 0, 1), make([]byte, 512), nvme.StatusInvalidNamespace},
		{"length mismatch", readCmd(1, 0, 2), make([]byte, 512), nvme.StatusSGLInvalidData},
		{"unknown opcode", &nvme.Command{Opcode: 0x7c, NSID: 1}, nil, nvme.StatusInvalidOpcode},
	}
	for _, tt := range bad {
		_, err := q.Do(ctx, tt.cmd, tt.buf)
		wantStatus(t, err, tt.want)
	}
}

func TestFaults(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 4, Faults: Faults{
		Status: map[uint32]nvme.Status{2: nvme.StatusInternalError},
		Hang:   map[uint32]bool{3: true},
		Delay:  map[uint32]time.Duration{1: 300 * time.Millisecond, 4: 150 * time.Millisecond},
	}})
	q, _ := admin(t, addr, tg.NQN(), 0)
	_, err := identify(q, nvme.CNSNamespace, 2)
	wantStatus(t, err, nvme.StatusInternalError)

	// A hung namespace: no answer within 200 ms, while others are served.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = q.Do(ctx, identifyCmd(nvme.CNSNamespace, 3), make([]byte, nvme.IdentifySize))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung namespace: %v, want the context's deadline", err)
	}

	// Per-namespace delays: namespaces finish in reverse order.
	order := make(chan uint32, 2)
	var wg sync.WaitGroup
	for _, id := range []uint32{1, 4} {
		wg.Go(func() {
			if _, err := identify(q, nvme.CNSNamespace, id); err != nil {
				t.Error(err)
			}
			order <- id
		})
	}
	wg.Wait()
	if a, b := <-order, <-order; a != 4 || b != 1 {
		t.Errorf("completion order %d, %d; want 4, 1", a, b)
	}
}

// Faults.Identify sees each Identify command with the target's answer and
// replaces it.
func TestFaultsIdentify(t *testing.T) {
	var calls atomic.Int32
	tg, addr := startTarget(t, Config{Namespaces: 2, Faults: Faults{
		Identify: func(cmd *nvme.Command, data []byte, st nvme.Status) ([]byte, nvme.Status) {
			calls.Add(1)
			switch {
			case cmd.IdentifyCNS() == nvme.CNSController:
				binary.LittleEndian.PutUint32(data[516:], 0xffffffff) // NN
			case cmd.NSID == 2:
				return nil, nvme.StatusInternalError | nvme.StatusDNR
			case cmd.NSID == 5000: // above NN: make it up
				if st.Code() != nvme.StatusInvalidNamespace || data != nil {
					t.Errorf("NSID 5000: target's answer %v with %d bytes, want Invalid Namespace", st, len(data))
				}
				return nvme.AppendNSIDList(nil, []uint32{42}), 0
			}
			return data, st
		},
	}})
	q, _ := admin(t, addr, tg.NQN(), 0)
	b, err := identify(q, nvme.CNSController, 0)
	if err != nil {
		t.Fatal(err)
	}
	var id nvme.IdentifyController
	if err := id.UnmarshalBinary(b); err != nil || id.NN != 0xffffffff {
		t.Errorf("NN %#x (%v), want the rewritten 0xffffffff", id.NN, err)
	}
	_, err = identify(q, nvme.CNSNamespace, 2)
	wantStatus(t, err, nvme.StatusInternalError)
	if b, err = identify(q, nvme.CNSNamespace, 5000); err != nil || binary.LittleEndian.Uint32(b) != 42 {
		t.Errorf("NSID 5000: %v, first word %d, want the made-up data", err, binary.LittleEndian.Uint32(b))
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("rewrite called %d times, want 3", n)
	}
}

func TestDropAfter(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 1, Faults: Faults{DropAfter: 3}})
	q := dial(t, addr, tcp.HostConfig{})
	if _, err := connect(q, 0, nvme.DynamicController, tg.NQN(), 0); err != nil { // 1
		t.Fatal(err)
	}
	if err := propSet(q, nvme.PropCC, ccEnable); err != nil { // 2
		t.Fatal(err)
	}
	if _, err := identify(q, nvme.CNSController, 0); err != nil { // 3
		t.Fatal(err)
	}
	_, err := identify(q, nvme.CNSController, 0) // 4: dropped
	var st nvme.Status
	if err == nil || errors.As(err, &st) {
		t.Fatalf("fourth command: %v, want a transport error", err)
	}
	<-q.Done()
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{AdminQueueDepth: 1},
		{AdminQueueDepth: MaxAdminQueueDepth + 1},
		{IOQueueDepth: 1},
		{IOQueueDepth: MaxIOQueueDepth + 1},
		{Limits: Limits{MaxConnections: -1}},
		{Limits: Limits{ConnectTimeout: -time.Second}},
		{Limits: Limits{ConnWriteBudget: 4096}},
		{Limits: Limits{ConnWriteBudget: 8 << 20, WriteBudget: 4 << 20}},
		{Namespaces: 10, MaxNSID: 5},
		{NQN: nvme.DiscoveryNQN},
		{BlockSize: 1000, Namespaces: 1},
	} {
		if tg, err := New(cfg); err == nil || !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, ErrInvalidNamespace) {
			t.Errorf("New(%+v) = %v", cfg, err)
			if tg != nil {
				tg.Close()
			}
		}
	}
	tg := newTarget(t, Config{})
	for _, ns := range []Namespace{{NSID: 0}, {NSID: 1, BlockSize: 1024}, {NSID: 1, Size: 1000}, {NSID: 5000}} {
		if err := tg.Attach(ns); !errors.Is(err, ErrInvalidNamespace) {
			t.Errorf("Attach(%+v) = %v", ns, err)
		}
	}
}

func BenchmarkIdentify4KDepth32(b *testing.B) {
	tg, addr := startTarget(b, Config{Namespaces: 1})
	q, _ := admin(b, addr, tg.NQN(), 0)
	b.SetParallelism(16) // 32 goroutines on 2 cores: the queue stays full
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, nvme.IdentifySize)
		cmd := identifyCmd(nvme.CNSController, 0)
		for pb.Next() {
			c := *cmd
			if _, err := q.Do(context.Background(), &c, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// TestLinuxNVMeList checks testdata/linux-nvme-list.json, the output of
// "nvme list -o json" (nvme-cli 2.3) on a Linux 6.1 host connected to
// "complchain target --namespaces 4", against what the target reports.
func TestLinuxNVMeList(t *testing.T) {
	b, err := os.ReadFile("testdata/linux-nvme-list.json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Devices []struct {
			NameSpace                           uint32
			DevicePath                          string
			Firmware, ModelNumber, SerialNumber string
			UsedBytes, MaximumLBA, PhysicalSize uint64
			SectorSize                          uint32
		}
	}
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	tg := newTarget(t, Config{Namespaces: 4})
	defer tg.Close()
	sc := tg.subs[0].cfg
	seen := map[uint32]bool{}
	for _, d := range list.Devices {
		seen[d.NameSpace] = true
		if d.ModelNumber != sc.Model || d.SerialNumber != sc.Serial || d.Firmware != sc.Firmware {
			t.Errorf("device %+v: identity differs from the target's", d)
		}
		if d.SectorSize != DefaultBlockSize || d.MaximumLBA != DefaultNSSize/DefaultBlockSize || d.PhysicalSize != DefaultNSSize {
			t.Errorf("device %+v: geometry differs", d)
		}
		if d.DevicePath != "/dev/nvme0n"+strconv.Itoa(int(d.NameSpace)) {
			t.Errorf("device path %s for NSID %d", d.DevicePath, d.NameSpace)
		}
	}
	if len(seen) != 4 || !seen[1] || !seen[4] {
		t.Errorf("namespaces %v", seen)
	}
}

func TestMalformedPDU(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 1, Faults: Faults{MalformedAfter: 2}})
	q := dial(t, addr, tcp.HostConfig{})
	if _, err := connect(q, 0, nvme.DynamicController, tg.NQN(), 0); err != nil {
		t.Fatal(err)
	}
	if err := propSet(q, nvme.PropCC, ccEnable); err != nil {
		t.Fatal(err)
	}
	_, err := identify(q, nvme.CNSController, 0)
	var st nvme.Status
	if err == nil || errors.As(err, &st) {
		t.Fatalf("third command: %v, want a transport error", err)
	}
}

// A host that vanishes with an AER outstanding ends its controller, and
// the target does not wait for the AER.
func TestHostVanishes(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 1})
	q, cntlid := admin(t, addr, tg.NQN(), 0)
	ev := aer(context.Background(), q)
	// Make sure the AER reached the target: commands on one queue are
	// read in order, so once a later one is answered the AER is outstanding.
	if _, err := q.Do(context.Background(), &nvme.Command{Opcode: nvme.OpKeepAlive}, nil); err != nil {
		t.Fatal(err)
	}
	c := tg.controller(cntlid)
	q.Close()
	<-ev
	<-c.done
}

// With a one-way delay d, a command takes at least a round trip of 2d, and
// commands in flight together share their round trips.
func TestDelay(t *testing.T) {
	const d = 25 * time.Millisecond
	tg, addr := startTarget(t, Config{Namespaces: 1, Delay: d})
	q, _ := admin(t, addr, tg.NQN(), 0)
	start := time.Now()
	if _, err := identify(q, nvme.CNSController, 0); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 2*d {
		t.Errorf("round trip %v, want at least %v", rtt, 2*d)
	}
	start = time.Now()
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			if _, err := identify(q, nvme.CNSController, 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if el := time.Since(start); el > 10*2*d {
		t.Errorf("30 commands in flight took %v: serialised, not pipelined (round trip %v)", el, 2*d)
	}
}

func BenchmarkRead4KDepth32(b *testing.B) {
	tg, addr := startTarget(b, Config{Namespaces: 1})
	q := ioQueue(b, addr, tg.NQN(), tcp.HostConfig{})
	b.SetParallelism(16)
	b.SetBytes(4096)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		for i := uint64(0); pb.Next(); i++ {
			if _, err := q.Do(context.Background(), readCmd(1, i%1024*8, 8), buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

func TestFeatures(t *testing.T) {
	tg, addr := startTarget(t, Config{Namespaces: 1, IOQueues: 4})
	q, _ := admin(t, addr, tg.NQN(), 0)
	do := func(cmd nvme.Command) (uint64, error) {
		c, err := q.Do(context.Background(), &cmd, nil)
		return c.Result, err
	}
	get := func(fid uint8) nvme.Command { return nvme.Command{Opcode: nvme.OpGetFeatures, CDW10: uint32(fid)} }
	tests := []struct {
		name string
		cmd  nvme.Command
		want uint64
		st   nvme.Status
	}{
		{"queues before set: all offered", get(nvme.FeatureNumberOfQueues), 3 | 3<<16, 0},
		{"ask for 8 queues, get 4", nvme.SetFeaturesCommand(nvme.FeatureNumberOfQueues, 7|7<<16), 3 | 3<<16, 0},
		{"ask for 2", nvme.SetFeaturesCommand(nvme.FeatureNumberOfQueues, 1|1<<16), 1 | 1<<16, 0},
		{"queues now", get(nvme.FeatureNumberOfQueues), 1 | 1<<16, 0},
		{"65536 queues", nvme.SetFeaturesCommand(nvme.FeatureNumberOfQueues, 0xffff), 0, nvme.StatusInvalidField},
		{"keep alive", nvme.SetFeaturesCommand(nvme.FeatureKeepAlive, 120000), 0, 0},
		{"keep alive read", get(nvme.FeatureKeepAlive), 120000, 0},
		{"async events", nvme.SetFeaturesCommand(nvme.FeatureAsyncEvent, nvme.AsyncEventNamespaceChanged), 0, 0},
		{"async events read", get(nvme.FeatureAsyncEvent), nvme.AsyncEventNamespaceChanged, 0},
		{"save", nvme.Command{Opcode: nvme.OpSetFeatures, CDW10: nvme.FeatureKeepAlive | 1<<31}, 0, nvme.StatusFeatureNotSaveable},
		{"unknown feature", get(0x7e), 0, nvme.StatusInvalidField},
	}
	for _, tt := range tests {
		got, err := do(tt.cmd)
		if tt.st != 0 {
			wantStatus(t, err, tt.st)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: %#x, %v; want %#x", tt.name, got, err, tt.want)
		}
	}
	// Only the granted I/O queues can be connected.
	_, cntlid := admin(t, addr, tg.NQN(), 0) // a fresh controller: 4 queues
	for qid, ok := range map[uint16]bool{4: true, 5: false} {
		_, err := connect(dial(t, addr, tcp.HostConfig{}), qid, cntlid, tg.NQN(), 0)
		if ok && err != nil || !ok && err == nil {
			t.Errorf("I/O queue %d: %v", qid, err)
		}
	}
}
