package scsi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"
)

// Devices that answer nonsense lose the LUNs concerned, not the target:
// every qualifier and type that means "no logical unit" is skipped without
// error, every unusable REPORT LUNS entry or INQUIRY, VPD or capacity
// answer drops one LUN with an error, and the work stays bounded.
func TestHostileDevices(t *testing.T) {
	inquiry := func(lun uint16, q, typ uint8) func(Addr, []byte, Response) Response {
		return func(a Addr, cdb []byte, r Response) Response {
			if a.LUN == lun && cdb[0] == OpInquiry && cdb[1]&1 == 0 {
				r.Data = AppendInquiry(nil, Inquiry{Qualifier: q, Type: typ, Vendor: "X"})
			}
			return r
		}
	}
	reportLUNs := func(data []byte) func(Addr, []byte, Response) Response {
		return func(a Addr, cdb []byte, r Response) Response {
			if cdb[0] == OpReportLUNs && a.Target == 0 {
				r.Data = data
			}
			return r
		}
	}
	capacity := func(lun uint16, c Capacity) func(Addr, []byte, Response) Response {
		return func(a Addr, cdb []byte, r Response) Response {
			if a.LUN == lun && cdb[0] == OpServiceIn16 {
				r.Data = AppendCapacity16(nil, c)
			}
			return r
		}
	}
	entries := func(raw ...[8]byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(8*len(raw)))
		b = append(b, 0, 0, 0, 0)
		for _, e := range raw {
			b = append(b, e[:]...)
		}
		return b
	}
	lun := EncodeLUN
	wlun := [8]byte{0xc1, 0x01} // REPORT LUNS well-known LUN
	ext := [8]byte{0xd2, 0, 0, 0, 0, 0, 0, 1}
	lun2 := [8]byte{0x80, 2} // logical unit addressing

	tests := []struct {
		name    string
		host    Host
		devices []string // H:C:T:L of target 0
		target1 []string // of target 1, if not LUNs 0-2
		errs    int
		check   func(t *testing.T, errs []error)
	}{
		{name: "PQ 1, type 1Fh: no LUN", host: Host{Respond: inquiry(1, 1, 0x1f)}, devices: []string{"0:0:0:0", "0:0:0:2"}},
		{name: "PQ 3, type 0: no LUN", host: Host{Respond: inquiry(1, 3, 0)}, devices: []string{"0:0:0:0", "0:0:0:2"}},
		{name: "PQ 3, type 1Fh: no LUN", host: Host{Respond: inquiry(2, 3, 0x1f)}, devices: []string{"0:0:0:0", "0:0:0:1"}},
		{name: "PQ 0, type 1Fh, pdt_1f_for_no_lun", host: Host{PDT1FNoLUN: true, Respond: inquiry(1, 0, 0x1f)}, devices: []string{"0:0:0:0", "0:0:0:2"}},
		{name: "PQ 2, type 1Fh, pdt_1f_for_no_lun", host: Host{PDT1FNoLUN: true, Respond: inquiry(0, 2, 0x1f)}, devices: []string{"0:0:0:1", "0:0:0:2"}},
		{name: "PQ 0, type 1Fh: a device, as Linux keeps it", host: Host{Respond: inquiry(1, 0, 0x1f)}, devices: []string{"0:0:0:0", "0:0:0:1", "0:0:0:2"}},
		{name: "PQ 1, type 0: a device, as Linux keeps it", host: Host{Respond: inquiry(1, 1, 0)}, devices: []string{"0:0:0:0", "0:0:0:1", "0:0:0:2"}},
		{
			name: "well-known, extended and logical unit addressing entries dropped",
			host: Host{Respond: reportLUNs(entries(lun(0), wlun, ext, lun2, lun(2)))}, devices: []string{"0:0:0:0", "0:0:0:2"}, errs: 1,
		},
		{name: "LUN listed twice", host: Host{Respond: reportLUNs(entries(lun(0), lun(1), lun(0)))}, devices: []string{"0:0:0:0", "0:0:0:1"}, errs: 1},
		{
			name: "list longer than the data", host: Host{Respond: reportLUNs(entries(lun(0), lun(1), lun(2))[:8+16+5])}, devices: []string{"0:0:0:0", "0:0:0:1"}, errs: 1,
			check: func(t *testing.T, errs []error) {
				if !errors.Is(errs[0], ErrShort) {
					t.Errorf("%v, want ErrShort", errs[0])
				}
			},
		},
		{
			name:    "list length not a multiple of 8",
			host:    Host{Respond: reportLUNs(append(binary.BigEndian.AppendUint32(nil, 20), append(make([]byte, 4), append(entries(lun(2), lun(1))[8:], 0, 0, 0, 0)...)...))},
			devices: []string{"0:0:0:2", "0:0:0:1"}, errs: 1,
		},
		{name: "REPORT LUNS header short", host: Host{Respond: reportLUNs(entries(lun(0))[:4])}, errs: 1}, // the target's LUNs unknown
		{name: "list of 4 GiB", host: Host{Respond: reportLUNs(append(binary.BigEndian.AppendUint32(nil, math.MaxUint32&^7), entries(lun(0), lun(1))[4:]...))},
			devices: []string{"0:0:0:0", "0:0:0:1"}, errs: 1},
		{name: "list naming LUNs the device lacks", host: Host{Respond: reportLUNs(entries(lun(0), lun(9), lun(300)))}, devices: []string{"0:0:0:0"}},
		{name: "REPORT LUNS refused: LUNs 0-7 up to the first missing", host: Host{LUNs: 3, NoReportLUNs: true}, devices: []string{"0:0:0:0", "0:0:0:1", "0:0:0:2"}},
		{name: "REPORT LUNS refused, 8 LUNs and more", host: Host{LUNs: 12, NoReportLUNs: true},
			devices: []string{"0:0:0:0", "0:0:0:1", "0:0:0:2", "0:0:0:3", "0:0:0:4", "0:0:0:5", "0:0:0:6", "0:0:0:7"},
			target1: []string{"0:0:1:0", "0:0:1:1", "0:0:1:2", "0:0:1:3", "0:0:1:4", "0:0:1:5", "0:0:1:6", "0:0:1:7"}},
		{name: "short INQUIRY", host: Host{Respond: func(a Addr, cdb []byte, r Response) Response {
			if a.LUN == 1 && cdb[0] == OpInquiry && cdb[1] == 0 {
				r.Data = r.Data[:30]
			}
			return r
		}}, devices: []string{"0:0:0:0", "0:0:0:2"}, errs: 1},
		{name: "VPD page of another code", host: Host{Respond: func(a Addr, cdb []byte, r Response) Response {
			if a.LUN == 0 && cdb[0] == OpInquiry && cdb[1] == 1 && cdb[2] == 0x83 {
				r.Data[1] = 0x80
			}
			return r
		}}, devices: []string{"0:0:0:1", "0:0:0:2"}, errs: 1},
		{name: "block size 0", host: Host{Respond: capacity(0, Capacity{LastLBA: 7})}, devices: []string{"0:0:0:1", "0:0:0:2"}, errs: 1},
		{name: "block size 1000", host: Host{Respond: capacity(0, Capacity{LastLBA: 7, BlockSize: 1000})}, devices: []string{"0:0:0:1", "0:0:0:2"}, errs: 1},
		{name: "block size 1 MiB", host: Host{Respond: capacity(2, Capacity{LastLBA: 7, BlockSize: 1 << 20})}, devices: []string{"0:0:0:0", "0:0:0:1"}, errs: 1},
		{name: "last LBA 2^64-1", host: Host{Respond: capacity(1, Capacity{LastLBA: math.MaxUint64, BlockSize: 512})}, devices: []string{"0:0:0:0", "0:0:0:2"}, errs: 1,
			check: func(t *testing.T, errs []error) {
				var fe *FieldError
				var ce *CommandError
				if !errors.As(errs[0], &fe) || fe.Field != "RETURNED LOGICAL BLOCK ADDRESS" || !errors.As(errs[0], &ce) || ce.Addr.LUN != 1 {
					t.Errorf("%v, want a FieldError of LUN 1", errs[0])
				}
			}},
		{name: "largest capacity", host: Host{Respond: capacity(1, Capacity{LastLBA: math.MaxUint64/4096 - 1, BlockSize: 4096})}, devices: []string{"0:0:0:0", "0:0:0:1", "0:0:0:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host
			h.Targets = 2
			if h.LUNs == 0 {
				h.LUNs = 3
			}
			var commands atomic.Int64
			respond := h.Respond
			h.Respond = func(a Addr, cdb []byte, r Response) Response {
				commands.Add(1)
				if respond != nil && a.Target == 0 {
					return respond(a, cdb, r)
				}
				return r
			}
			s := &Scanner{}
			s.AddHost(context.Background(), &h)
			if err := s.WaitScans(context.Background()); err != nil {
				t.Fatal(err)
			}
			s.Close()
			var got []string
			for _, d := range s.Devices() {
				got = append(got, d.Addr.String())
				if d.Type == TypeDisk && d.Capacity.Bytes() == 0 {
					t.Errorf("%v registered with no capacity", d.Addr)
				}
			}
			target1 := tt.target1
			if target1 == nil {
				target1 = []string{"0:0:1:0", "0:0:1:1", "0:0:1:2"}
			}
			want := append(slices.Clone(tt.devices), target1...)
			if !slices.Equal(got, want) {
				t.Errorf("devices %v, want %v", got, want)
			}
			errs := s.Errors()
			if len(errs) != tt.errs {
				t.Fatalf("errors %v, want %d", errs, tt.errs)
			}
			for _, err := range errs {
				var ce *CommandError
				if !errors.As(err, &ce) || ce.Addr.Target != 0 {
					t.Errorf("error %v does not name target 0", err)
				}
			}
			if tt.check != nil {
				tt.check(t, errs)
			}
			// Bounded: REPORT LUNS, then at most INQUIRY, two VPD pages
			// and READ CAPACITY for each LUN tried.
			if max := int64(2 * (1 + 4*8)); commands.Load() > max {
				t.Errorf("%d commands, want at most %d", commands.Load(), max)
			}
		})
	}
}

func TestInquiryNoLUN(t *testing.T) {
	for q := range uint8(8) {
		for typ := range uint8(32) {
			want := q == 3 || typ == 0x1f && q == 1
			if got := (Inquiry{Qualifier: q, Type: typ}).NoLUN(false); got != want {
				t.Errorf("PQ %d type %#x: NoLUN %v, want %v", q, typ, got, want)
			}
			want = want || typ == 0x1f
			if got := (Inquiry{Qualifier: q, Type: typ}).NoLUN(true); got != want {
				t.Errorf("PQ %d type %#x, pdt_1f_for_no_lun: NoLUN %v, want %v", q, typ, got, want)
			}
		}
	}
	b := AppendInquiry(nil, Inquiry{Qualifier: 1, Type: 0x1f})
	if q, err := ParseInquiry(b); err != nil || !q.NoLUN(false) || fmt.Sprintf("%#x", b[0]) != "0x3f" {
		t.Errorf("PQ 1 type 1Fh: %+v %v, byte 0 %#x", q, err, b[0])
	}
}
