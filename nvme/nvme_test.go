package nvme

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"
)

func TestCommandLayout(t *testing.T) {
	c := Command{Opcode: OpIdentify, Flags: CommandFlagSGL, CID: 0x1234, NSID: 0xdeadbeef, CDW2: 2, CDW3: 3,
		MPTR: 0x0102030405060708, CDW10: 10, CDW11: 11, CDW12: 12, CDW13: 13, CDW14: 14, CDW15: 15}
	c.SetSGL(SGL{Addr: 0x1122, Length: 4096, Type: SGLTransportDataBlock})
	b, err := c.MarshalBinary()
	if err != nil || len(b) != CommandSize {
		t.Fatalf("MarshalBinary: %d bytes, %v", len(b), err)
	}
	le := binary.LittleEndian
	checks := []struct {
		name string
		got  uint64
		want uint64
	}{
		{"opcode @0", uint64(b[0]), 0x06},
		{"flags @1 (PSDT SGL)", uint64(b[1]), 0x40},
		{"CID @2", uint64(le.Uint16(b[2:])), 0x1234},
		{"NSID @4", uint64(le.Uint32(b[4:])), 0xdeadbeef},
		{"MPTR @16", le.Uint64(b[16:]), 0x0102030405060708},
		{"SGL address @24", le.Uint64(b[24:]), 0x1122},
		{"SGL length @32", uint64(le.Uint32(b[32:])), 4096},
		{"SGL type @39", uint64(b[39]), 0x5a},
		{"CDW10 @40", uint64(le.Uint32(b[40:])), 10},
		{"CDW15 @60", uint64(le.Uint32(b[60:])), 15},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	var d Command
	if err := d.UnmarshalBinary(b); err != nil || d != c {
		t.Fatalf("round trip: %+v, %v", d, err)
	}
	if err := d.UnmarshalBinary(b[:63]); !errors.Is(err, ErrShortBuffer) {
		t.Fatalf("short command: %v", err)
	}
}

func TestCompletionLayout(t *testing.T) {
	// A CapsuleResp CQE as Linux's target sent it for a failed Identify:
	// status Invalid Namespace with DNR, phase 0.
	b := []byte{1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 7, 0, 0x16, 0x80}
	var c Completion
	if err := c.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if c.Result != 1 || c.SQHead != 5 || c.CID != 7 || c.Status.Code() != StatusInvalidNamespace || !c.Status.DNR() {
		t.Fatalf("decoded %+v", c)
	}
	again, _ := c.MarshalBinary()
	if !bytes.Equal(again, b) {
		t.Fatalf("re-encoded % x, want % x", again, b)
	}
}

func TestStatusError(t *testing.T) {
	tests := []struct {
		s    Status
		want string
	}{
		{StatusInvalidNamespace, "Invalid Namespace or Format (0x0b)"},
		{StatusInvalidNamespace | StatusDNR, "Invalid Namespace or Format (0x0b)"},
		{StatusConnectInvalidParam, "Connect Invalid Parameters (0x182)"},
		{0x0ee, "Unknown Status (type 0) (0xee)"},
	}
	for _, tt := range tests {
		if got := tt.s.Error(); got != tt.want {
			t.Errorf("%#x.Error() = %q, want %q", uint16(tt.s), got, tt.want)
		}
	}
	var err error = StatusInvalidField | StatusDNR
	var st Status
	if !errors.As(err, &st) || st.Code() != StatusInvalidField {
		t.Fatal("errors.As does not find the Status")
	}
}

func TestIdentifyRoundTrips(t *testing.T) {
	ic := IdentifyController{VID: 0x1b36, SerialNumber: "SN42", ModelNumber: "complchain", Firmware: "1.0", MDTS: 8,
		CNTLID: 3, Version: 0x10400, OAES: AsyncEventNamespaceChanged, AERL: 3, KAS: 10, MAXCMD: 1024, NN: 1024,
		SGLS: 0x100005, SubNQN: "nqn.2026-01.io.example:x", IOCCSZ: 516, IORCSZ: 1, CNTRLTYPE: 1}
	b, _ := ic.AppendBinary(nil)
	if len(b) != IdentifySize || string(b[4:8]) != "SN42" || b[23] != ' ' || string(b[768:792]) != "nqn.2026-01.io.example:x" ||
		binary.LittleEndian.Uint32(b[516:]) != 1024 || binary.LittleEndian.Uint32(b[80:]) != 0x10400 {
		t.Fatal("Identify Controller fields are not at their offsets")
	}
	var ic2 IdentifyController
	if err := ic2.UnmarshalBinary(b); err != nil || ic2 != ic {
		t.Fatalf("Identify Controller round trip: %+v %v", ic2, err)
	}
	ns := IdentifyNamespace{NSZE: 2097152, NCAP: 2097152, NUSE: 100, NLBAF: 1, FLBAS: 1, NMIC: 1,
		NGUID: [16]byte{1, 2, 3}, EUI64: [8]byte{9}}
	ns.LBAF[0] = LBAFormat{DataShift: 9}
	ns.LBAF[1] = LBAFormat{DataShift: 12, Performance: 2}
	b, _ = ns.AppendBinary(nil)
	if binary.LittleEndian.Uint64(b[0:]) != 2097152 || b[26] != 1 || b[104] != 1 || b[120] != 9 || b[128+4+2] != 12 || b[128+4+3] != 2 {
		t.Fatal("Identify Namespace fields are not at their offsets")
	}
	var ns2 IdentifyNamespace
	if err := ns2.UnmarshalBinary(b); err != nil || ns2 != ns || ns2.BlockSize() != 4096 {
		t.Fatalf("Identify Namespace round trip: %+v %v", ns2, err)
	}
	ids := NSIdentifiers{EUI64: [8]byte{1}, NGUID: [16]byte{2}, UUID: [16]byte{3}, CSI: 0, HasCSI: true}
	b, _ = ids.AppendBinary(nil)
	want := []byte{NIDTEUI64, 8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, NIDTNGUID, 16, 0, 0, 2}
	if len(b) != IdentifySize || !bytes.Equal(b[:len(want)], want) {
		t.Fatalf("descriptor list % x", b[:32])
	}
	var ids2 NSIdentifiers
	if err := ids2.UnmarshalBinary(b); err != nil || ids2 != ids {
		t.Fatalf("descriptors round trip: %+v %v", ids2, err)
	}
	if err := ids2.UnmarshalBinary([]byte{NIDTNGUID, 8, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}); err == nil {
		t.Fatal("NGUID descriptor of length 8 accepted")
	}
	if err := ids2.UnmarshalBinary([]byte{NIDTUUID, 16, 0, 0, 1}); !errors.Is(err, ErrShortBuffer) {
		t.Fatalf("truncated descriptor: %v", err)
	}
}

func TestConnectAndLogCommands(t *testing.T) {
	c := ConnectCommand(0, 32, 30000)
	b, _ := c.MarshalBinary()
	le := binary.LittleEndian
	if b[0] != 0x7f || b[4] != 0x01 || le.Uint16(b[40:]) != 0 || le.Uint16(b[42:]) != 0 || le.Uint16(b[44:]) != 31 || le.Uint32(b[48:]) != 30000 {
		t.Fatalf("Connect command % x", b)
	}
	if qid, sq, kato := c.ConnectQueue(); qid != 0 || sq != 32 || kato != 30000 {
		t.Fatalf("ConnectQueue = %d %d %d", qid, sq, kato)
	}
	cd := ConnectData{HostID: [16]byte{0xaa}, CNTLID: DynamicController, SubsystemNQN: "nqn.sub", HostNQN: "nqn.host"}
	db, _ := cd.AppendBinary(nil)
	if len(db) != ConnectDataSize || db[0] != 0xaa || le.Uint16(db[16:]) != 0xffff || string(db[256:263]) != "nqn.sub" || string(db[512:520]) != "nqn.host" {
		t.Fatal("Connect data fields are not at their offsets")
	}
	var cd2 ConnectData
	if err := cd2.UnmarshalBinary(db); err != nil || cd2 != cd {
		t.Fatalf("Connect data round trip: %+v %v", cd2, err)
	}
	g := GetLogPageCommand(LogDiscovery, 0, 8192, 1024)
	if lid, n, off := g.LogPage(); lid != LogDiscovery || n != 8192 || off != 1024 || g.CDW10>>16 != 2047 {
		t.Fatalf("Get Log Page fields: %d %d %d (CDW10 %#x)", lid, n, off, g.CDW10)
	}
	if ev := ParseAsyncEvent(0x040002); !ev.NamespaceChanged() || ev.Log != LogChangedNamespace {
		t.Fatalf("async event %+v", ev)
	}
}

func TestNSIDList(t *testing.T) {
	b := AppendNSIDList(nil, []uint32{1, 5, 9})
	if len(b) != IdentifySize {
		t.Fatalf("list of %d bytes", len(b))
	}
	if got := ParseNSIDList(nil, b); len(got) != 3 || got[2] != 9 {
		t.Fatalf("ParseNSIDList = %v", got)
	}
}

func TestDiscoveryLog(t *testing.T) {
	p := make([]byte, DiscoveryLogHeaderSize+2*DiscoveryEntrySize)
	binary.LittleEndian.PutUint64(p[0:], 7)
	binary.LittleEndian.PutUint64(p[8:], 3) // claims 3, holds 2
	e := p[DiscoveryLogHeaderSize:]
	e[0], e[1], e[2] = 3, 1, 2
	copy(e[32:], "4420")
	copy(e[256:], "nqn.sub")
	copy(e[512:], "127.0.0.1")
	gen, n, entries, err := ParseDiscoveryLog(p)
	if err != nil || gen != 7 || n != 3 || len(entries) != 2 || entries[0].ServiceID != "4420" || entries[0].Address != "127.0.0.1" || entries[0].SubsystemNQN != "nqn.sub" {
		t.Fatalf("ParseDiscoveryLog = %d %d %+v %v", gen, n, entries, err)
	}
	if _, _, _, err := ParseDiscoveryLog(p[:100]); !errors.Is(err, ErrShortBuffer) {
		t.Fatalf("short log: %v", err)
	}
}

func TestNoAllocations(t *testing.T) {
	var c Command
	var cqe Completion
	buf := make([]byte, 0, 128)
	raw := make([]byte, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		buf, _ = c.AppendBinary(buf[:0])
		buf, _ = cqe.AppendBinary(buf)
		c.UnmarshalBinary(raw)
		cqe.UnmarshalBinary(raw)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations encoding and decoding queue entries", allocs)
	}
}

// Decoding the identify data a namespace scan reads allocates nothing.
func TestIdentifyDecodeAllocs(t *testing.T) {
	ids := NSIdentifiers{EUI64: [8]byte{1}, NGUID: [16]byte{2}, UUID: [16]byte{3}, HasCSI: true}
	desc, _ := ids.AppendBinary(nil)
	ns := IdentifyNamespace{NSZE: 8, NCAP: 8, NGUID: [16]byte{2}}
	page, _ := ns.AppendBinary(nil)
	var gotIDs NSIdentifiers
	var gotNS IdentifyNamespace
	allocs := testing.AllocsPerRun(1000, func() {
		if gotIDs.UnmarshalBinary(desc) != nil || gotNS.UnmarshalBinary(page) != nil {
			t.Fatal("decode failed")
		}
	})
	if allocs != 0 || gotIDs != ids || gotNS.NSZE != 8 {
		t.Fatalf("%v allocations; decoded %+v", allocs, gotIDs)
	}
}

// Identify Namespace data a host cannot use is refused, naming the field.
func TestIdentifyNamespaceValidate(t *testing.T) {
	good := func() IdentifyNamespace {
		ns := IdentifyNamespace{NSZE: 1 << 21, NCAP: 1 << 21, NUSE: 1 << 20, NLBAF: 1, FLBAS: 1}
		ns.LBAF[0].DataShift, ns.LBAF[1].DataShift = 9, 12
		return ns
	}
	tests := []struct {
		name   string
		change func(*IdentifyNamespace)
		field  string // "" if valid
		bs     uint32
	}{
		{"valid", func(*IdentifyNamespace) {}, "", 4096},
		{"FLBAS past NLBAF", func(ns *IdentifyNamespace) { ns.FLBAS = 2 }, "FLBAS", 0},
		{"FLBAS 15", func(ns *IdentifyNamespace) { ns.FLBAS = 0xf }, "FLBAS", 0},
		{"FLBAS high bits ignored with 16 formats", func(ns *IdentifyNamespace) { ns.FLBAS = 0x61 }, "", 4096},
		{"FLBAS high bits past NLBAF", func(ns *IdentifyNamespace) { ns.NLBAF = 20; ns.FLBAS = 0x41 }, "FLBAS", 0},
		{"FLBAS high bits", func(ns *IdentifyNamespace) { ns.NLBAF = 63; ns.FLBAS = 0x61; ns.LBAF[49].DataShift = 13 }, "", 8192},
		{"NLBAF 64", func(ns *IdentifyNamespace) { ns.NLBAF = 64 }, "NLBAF", 0},
		{"NLBAF 255", func(ns *IdentifyNamespace) { ns.NLBAF = 255 }, "NLBAF", 0},
		{"LBADS 0", func(ns *IdentifyNamespace) { ns.LBAF[1].DataShift = 0 }, "LBAF1.LBADS", 0},
		{"LBADS 8", func(ns *IdentifyNamespace) { ns.LBAF[1].DataShift = 8 }, "LBAF1.LBADS", 0},
		{"LBADS 17", func(ns *IdentifyNamespace) { ns.LBAF[1].DataShift = 17 }, "LBAF1.LBADS", 0},
		{"LBADS 63", func(ns *IdentifyNamespace) { ns.LBAF[1].DataShift = 63 }, "LBAF1.LBADS", 0},
		{"LBADS 64 KiB", func(ns *IdentifyNamespace) { ns.LBAF[1].DataShift = 16 }, "", 64 << 10},
		{"NSZE 2^64-1", func(ns *IdentifyNamespace) { ns.NSZE = math.MaxUint64 }, "NSZE", 4096},
		{"NSZE largest", func(ns *IdentifyNamespace) { ns.NSZE = math.MaxUint64 >> 12 }, "", 4096},
		{"NSZE one above", func(ns *IdentifyNamespace) { ns.NSZE = math.MaxUint64>>12 + 1 }, "NSZE", 4096},
		{"NCAP above NSZE", func(ns *IdentifyNamespace) { ns.NCAP = ns.NSZE + 1 }, "NCAP", 4096},
		{"NUSE above NCAP", func(ns *IdentifyNamespace) { ns.NCAP = 100; ns.NUSE = 101 }, "NUSE", 4096},
		{"thin", func(ns *IdentifyNamespace) { ns.NCAP, ns.NUSE = 10, 0 }, "", 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := good()
			tt.change(&ns)
			b, _ := ns.AppendBinary(nil)
			var got IdentifyNamespace
			if err := got.UnmarshalBinary(b); err != nil || got != ns {
				t.Fatalf("round trip: %v", err)
			}
			err := got.Validate()
			var fe *FieldError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
				t.Fatalf("Validate: %v, want a FieldError for %s", err, tt.field)
			}
			if bs := got.BlockSize(); bs != tt.bs {
				t.Fatalf("BlockSize %d, want %d", bs, tt.bs)
			}
		})
	}
}

// FuzzDecoders: every decoder survives arbitrary bytes, and what decodes
// encodes back to what decodes the same.
func FuzzDecoders(f *testing.F) {
	var ic IdentifyController
	b, _ := ic.AppendBinary(nil)
	f.Add(b)
	ids := NSIdentifiers{NGUID: [16]byte{1}, HasCSI: true}
	b, _ = ids.AppendBinary(nil)
	f.Add(b)
	f.Add([]byte{NIDTUUID, 16, 0, 0})
	f.Add(make([]byte, 64))
	bad := IdentifyNamespace{NSZE: math.MaxUint64, NCAP: 1, NLBAF: 63, FLBAS: 0x6f}
	bad.LBAF[63].DataShift = 12
	b, _ = bad.AppendBinary(nil)
	f.Add(b)
	smart := SMARTLog{Temperature: 308, PowerOnHours: 1}
	b, _ = smart.AppendBinary(nil)
	f.Add(b)
	f.Add(AppendDiscoveryLog(nil, 1, []DiscoveryEntry{{TransportType: 3, ServiceID: "4420", SubsystemNQN: "nqn.x", Address: "::1"}}))
	f.Add(AppendDSMRanges(nil, DSMRange{Length: 8, SLBA: 1 << 40}, DSMRange{Attributes: 1, Length: math.MaxUint32, SLBA: math.MaxUint64}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if rs, err := DSMRanges(b, len(b)/DSMRangeSize); err == nil {
			if enc := AppendDSMRanges(nil, rs...); !bytes.Equal(enc, b) {
				t.Fatal("Dataset Management ranges round trip differs")
			}
		} else if len(b)%DSMRangeSize == 0 && len(b) > 0 && len(b) <= MaxDSMRanges*DSMRangeSize {
			t.Fatalf("DSMRanges(%d bytes): %v", len(b), err)
		}
		var c Command
		if c.UnmarshalBinary(b) == nil {
			enc, _ := c.MarshalBinary()
			if !bytes.Equal(enc, b[:64]) {
				t.Fatal("command round trip differs")
			}
		}
		var cqe Completion
		if cqe.UnmarshalBinary(b) == nil {
			var again Completion
			enc, _ := cqe.MarshalBinary()
			again.UnmarshalBinary(enc)
			if again != cqe {
				t.Fatal("completion round trip differs")
			}
		}
		var ids NSIdentifiers
		if ids.UnmarshalBinary(b) == nil {
			enc, _ := ids.AppendBinary(nil)
			var again NSIdentifiers
			if err := again.UnmarshalBinary(enc); err != nil || again != ids {
				t.Fatalf("descriptor round trip: %+v %+v %v", ids, again, err)
			}
		}
		var ic IdentifyController
		if ic.UnmarshalBinary(b) == nil {
			roundTrip(t, &ic, new(IdentifyController))
		}
		var csi IdentifyCSIndependentNS
		if csi.UnmarshalBinary(b) == nil {
			roundTrip(t, &csi, new(IdentifyCSIndependentNS))
		}
		var smart SMARTLog
		if smart.UnmarshalBinary(b) == nil {
			roundTrip(t, &smart, new(SMARTLog))
		}
		var ns IdentifyNamespace
		if ns.UnmarshalBinary(b) == nil {
			bs := ns.BlockSize()
			if err := ns.Validate(); err == nil {
				if bs < 512 || bs > 64<<10 || ns.NSZE > math.MaxUint64/uint64(bs) || ns.NUSE > ns.NCAP || ns.NCAP > ns.NSZE {
					t.Fatalf("Validate accepted block size %d, NSZE %d NCAP %d NUSE %d", bs, ns.NSZE, ns.NCAP, ns.NUSE)
				}
			} else if fe := (*FieldError)(nil); !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("Validate: %v is not a FieldError naming a field", err)
			}
		}
		var cd ConnectData
		cd.UnmarshalBinary(b)
		if gen, _, entries, err := ParseDiscoveryLog(b); err == nil {
			_, _, again, err := ParseDiscoveryLog(AppendDiscoveryLog(nil, gen, entries))
			if err != nil || !reflect.DeepEqual(again, entries) {
				t.Fatalf("discovery log round trip: %+v, then %+v %v", entries, again, err)
			}
		}
		ParseNSIDList(nil, b)
	})
}

// roundTrip checks that v, decoded from some bytes, encodes to bytes that
// decode to v again.
func roundTrip(t *testing.T, v, again structure) {
	t.Helper()
	enc, err := v.AppendBinary(nil)
	if err != nil {
		t.Fatalf("%T: AppendBinary: %v", v, err)
	}
	if err := again.UnmarshalBinary(enc); err != nil || !reflect.DeepEqual(again, v) {
		t.Fatalf("%T round trip: %+v, then %+v %v", v, v, again, err)
	}
}

func BenchmarkCommandRoundTrip(b *testing.B) {
	c := IdentifyCommand(CNSNamespace, 1)
	buf := make([]byte, 0, CommandSize)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = c.AppendBinary(buf[:0])
		c.UnmarshalBinary(buf)
	}
}

// TestDSMRanges decodes range lists and refuses data whose length does
// not match the number of ranges.
func TestDSMRanges(t *testing.T) {
	two := AppendDSMRanges(nil, DSMRange{Length: 8, SLBA: 16}, DSMRange{Attributes: 4, Length: 1, SLBA: math.MaxUint64})
	tests := []struct {
		name string
		data []byte
		n    int
		want []DSMRange
	}{
		{"two ranges", two, 2, []DSMRange{{Length: 8, SLBA: 16}, {Attributes: 4, Length: 1, SLBA: math.MaxUint64}}},
		{"bytes", []byte{1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0x80}, 1, []DSMRange{{Attributes: 1, Length: 2, SLBA: 1<<63 | 3}}},
		{"short", two[:31], 2, nil},
		{"long", two, 1, nil},
		{"no ranges", nil, 0, nil},
		{"257 ranges", make([]byte, 257*DSMRangeSize), 257, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DSMRanges(tt.data, tt.n)
			if tt.want == nil {
				if !errors.Is(err, ErrShortBuffer) {
					t.Fatalf("err %v, want ErrShortBuffer", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
