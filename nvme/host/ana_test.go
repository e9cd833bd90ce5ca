package host_test

import (
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/complchain/complchain/internal/memtest"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
)

// anaCtrl is a controller that reports ANA: two groups at most (ANAGRPMAX
// 4), four namespaces, both notices.
func anaCtrl(edit func(*nvme.IdentifyController), log func(lid uint8, n int) ([]byte, nvme.Status)) *scriptedCtrl {
	return &scriptedCtrl{mqes: 31, shst: true, oaes: nvme.AsyncEventNamespaceChanged | nvme.AsyncEventANAChange,
		idc: func(id *nvme.IdentifyController) {
			id.CMIC, id.NANAGRPID, id.ANAGRPMAX, id.NN, id.MNAN, id.ANACAP = nvme.CMICANA|2, 2, 4, 4, 4, 0x1f
			if edit != nil {
				edit(id)
			}
		}, log: log}
}

// pad returns b grown with zeros to n bytes, as a controller fills the
// length asked.
func pad(b []byte, n int) []byte { return append(b, make([]byte, max(0, n-len(b)))...) }

func TestANALog(t *testing.T) {
	good := nvme.ANALog{CHGCNT: 3, Groups: []nvme.ANAGroup{
		{ANAGRPID: 1, CHGCNT: 1, State: nvme.ANAOptimized, NSIDs: []uint32{1, 2}},
		{ANAGRPID: 4, CHGCNT: 2, State: nvme.ANAInaccessible, NSIDs: []uint32{3}},
	}}
	enc := func(l nvme.ANALog) []byte { b, _ := l.AppendBinary(nil); return b }
	above := good
	above.Groups = []nvme.ANAGroup{{ANAGRPID: 5, State: nvme.ANAOptimized}}
	lying := enc(good)
	binary.LittleEndian.PutUint16(lying[8:], 0xffff)
	huge := enc(good)
	binary.LittleEndian.PutUint32(huge[16+4:], 0xffffffff)
	tests := []struct {
		name   string
		edit   func(*nvme.IdentifyController)
		page   []byte
		st     nvme.Status
		want   *nvme.ANALog
		err    func(error) bool
		length int // the length the host must ask for; 0: no Get Log Page
	}{
		{"two groups", nil, enc(good), 0, &good, nil, 16 + 2*32 + 4*4},
		{"MNAN 0 reads NN NSIDs", func(id *nvme.IdentifyController) { id.MNAN = 0; id.NN = 8 }, enc(good), 0, &good, nil, 16 + 2*32 + 8*4},
		{"group above ANAGRPMAX", nil, enc(above), 0, nil, fieldErr("ANAGRPID"), 96},
		{"NGRPS beyond the page", nil, lying, 0, nil, fieldErr("NGRPS"), 96},
		{"NNSIDS beyond the page", nil, huge, 0, nil, fieldErr("NNSIDS"), 96},
		{"log refused", nil, nil, nvme.StatusInvalidField | nvme.StatusDNR, nil,
			func(err error) bool { var st nvme.Status; return errors.As(err, &st) }, 96},
		{"NANAGRPID too large to read", func(id *nvme.IdentifyController) { id.NANAGRPID = 0xffffffff }, nil, 0, nil, fieldErr("NANAGRPID"), 0},
		{"NANAGRPID 0", func(id *nvme.IdentifyController) { id.NANAGRPID = 0 }, nil, 0, nil, fieldErr("NANAGRPID"), 0},
		{"no ANA reporting", func(id *nvme.IdentifyController) { id.CMIC = 2 }, nil, 0, nil,
			func(err error) bool { return errors.Is(err, host.ErrNoANA) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memtest.Bounded(t, 1<<20)
			asked := make(chan int, 4)
			f := anaCtrl(tt.edit, func(lid uint8, n int) ([]byte, nvme.Status) {
				if lid != nvme.LogANA {
					return nil, nvme.StatusInvalidField | nvme.StatusDNR
				}
				asked <- n
				if tt.st != 0 {
					return nil, tt.st
				}
				return pad(tt.page, n), 0
			})
			c := hostileConnect(t, f.start(t), host.Config{})
			got, err := c.ANALog(context.Background())
			if tt.err == nil && (err != nil || !reflect.DeepEqual(got, tt.want)) {
				t.Fatalf("ANALog = %+v, %v; want %+v", got, err, tt.want)
			}
			if tt.err != nil && (err == nil || !tt.err(err)) {
				t.Fatalf("ANALog: %v", err)
			}
			// Bring-up read the same log, or failed the same way.
			if kept, kerr := c.ANA(); !reflect.DeepEqual(kept, got) || (kerr == nil) != (err == nil) || (tt.err != nil && !tt.err(kerr)) {
				t.Fatalf("ANA() = %+v, %v; ANALog = %+v, %v", kept, kerr, got, err)
			}
			select {
			case n := <-asked:
				if n != tt.length {
					t.Fatalf("read %d bytes, want %d", n, tt.length)
				}
			default:
				if tt.length != 0 {
					t.Fatal("the log was not read")
				}
			}
		})
	}
}

func fieldErr(field string) func(error) bool {
	return func(err error) bool {
		var fe *nvme.FieldError
		return errors.As(err, &fe) && fe.Field == field
	}
}

// The host enables exactly the notices the controller advertises; an
// ANA change notice makes it read the log before the notice arrives on
// Events, so ANA shows the new state.
func TestANAChangeNotice(t *testing.T) {
	tests := []struct {
		name string
		oaes uint32
	}{
		{"ANA change only", nvme.AsyncEventANAChange},
		{"both notices", nvme.AsyncEventANAChange | nvme.AsyncEventNamespaceChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memtest.Bounded(t, 1<<20)
			state := make(chan nvme.ANAState, 1)
			state <- nvme.ANAOptimized
			reads := make(chan nvme.ANAState, 8)
			f := anaCtrl(nil, func(lid uint8, n int) ([]byte, nvme.Status) {
				s := <-state
				state <- s
				reads <- s
				b, _ := (&nvme.ANALog{Groups: []nvme.ANAGroup{{ANAGRPID: 1, State: s, NSIDs: []uint32{1}}}}).AppendBinary(nil)
				return pad(b, n), 0
			})
			f.oaes = tt.oaes
			f.aer = func(n int) (nvme.Status, bool) { return 0, n == 1 } // the first completes, the next is held
			f.aerDW0 = func(int) uint32 {
				<-state
				state <- nvme.ANAInaccessible
				return uint32(nvme.LogANA)<<16 | nvme.AsyncNoticeANAChange<<8 | nvme.AsyncTypeNotice
			}
			c := hostileConnect(t, f.start(t), host.Config{})
			f.mu.Lock()
			features := append([]nvme.Command(nil), f.features...)
			f.mu.Unlock()
			if len(features) != 1 || features[0].CDW10 != nvme.FeatureAsyncEvent || features[0].CDW11 != tt.oaes {
				t.Fatalf("Set Features %+v, want Asynchronous Event Configuration %#x", features, tt.oaes)
			}
			timeout := time.NewTimer(5 * time.Second)
			defer timeout.Stop()
			select {
			case e := <-c.Events():
				if !e.ANAChange() || e.Log != nvme.LogANA {
					t.Fatalf("event %+v, want ANA change", e)
				}
			case <-timeout.C:
				t.Fatal("no event")
			}
			log, err := c.ANA()
			if err != nil || log.Group(1).State != nvme.ANAInaccessible {
				t.Fatalf("after the notice: %+v %v", log, err)
			}
			if len(reads) != 2 || <-reads != nvme.ANAOptimized || <-reads != nvme.ANAInaccessible {
				t.Fatal("want one read at bring-up and one for the notice")
			}
		})
	}
}
