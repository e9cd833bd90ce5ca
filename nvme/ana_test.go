package nvme

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// anaLog is a two-group log: the bytes of its encoding are checked field
// by field in TestANALogLayout.
var anaLog = ANALog{CHGCNT: 0x0102030405060708, Groups: []ANAGroup{
	{ANAGRPID: 1, CHGCNT: 9, State: ANAOptimized, NSIDs: []uint32{1, 3}},
	{ANAGRPID: 7, CHGCNT: 10, State: ANAInaccessible, NSIDs: []uint32{2}},
}}

func TestANALogLayout(t *testing.T) {
	b, err := anaLog.AppendBinary([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	p := b[1:]
	if len(p) != 16+32+8+32+4 || len(p) != anaLog.Size() {
		t.Fatalf("%d bytes, Size %d", len(p), anaLog.Size())
	}
	for off, want := range map[int][]byte{
		0: le64(0x0102030405060708), 8: le16(2), 10: make([]byte, 6),
		16: le32(1), 20: le32(2), 24: le64(9), 32: {1}, 33: make([]byte, 15), 48: le32(1), 52: le32(3),
		56: le32(7), 60: le32(1), 64: le64(10), 72: {3}, 88: le32(2),
	} {
		if got := p[off : off+len(want)]; !bytes.Equal(got, want) {
			t.Errorf("bytes %d-%d = % x, want % x", off, off+len(want)-1, got, want)
		}
	}
	var got ANALog
	if err := got.UnmarshalBinary(p); err != nil || !reflect.DeepEqual(got, anaLog) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// The host reads the length it asked for: zeros after the last group.
	if err := got.UnmarshalBinary(append(p, make([]byte, 100)...)); err != nil || !reflect.DeepEqual(got, anaLog) {
		t.Fatalf("padded: %+v %v", got, err)
	}
	if g := got.Group(7); g == nil || g.State != ANAInaccessible || got.Group(2) != nil {
		t.Fatalf("Group(7) = %+v, Group(2) = %+v", g, got.Group(2))
	}
}

// Each value a controller may lie about is refused with the error that
// names it, before anything it counts is allocated.
func TestANALogHostile(t *testing.T) {
	valid, _ := anaLog.AppendBinary(nil)
	edit := func(f func(p []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	tests := []struct {
		name  string
		p     []byte
		field string // "" for ErrShortBuffer
	}{
		{"short header", valid[:15], ""},
		{"NGRPS beyond the page", edit(func(p []byte) []byte { copy(p[8:], le16(0xffff)); return p }), "NGRPS"},
		{"NGRPS one too many", edit(func(p []byte) []byte { copy(p[8:], le16(3)); return p }), "NGRPS"},
		{"second group cut", valid[:56+20], "NGRPS"},
		{"NNSIDS beyond the page", edit(func(p []byte) []byte { copy(p[20:], le32(0xffffffff)); return p }), "NNSIDS"},
		{"NNSIDS one past the end", edit(func(p []byte) []byte { copy(p[60:], le32(2)); return p }), "NNSIDS"},
		{"ANAGRPID zero", edit(func(p []byte) []byte { copy(p[16:], le32(0)); return p }), "ANAGRPID"},
		{"ANAGRPID twice", edit(func(p []byte) []byte { copy(p[56:], le32(1)); return p }), "ANAGRPID"},
		{"state zero", edit(func(p []byte) []byte { p[32] = 0; return p }), "ANAS"},
		{"state reserved", edit(func(p []byte) []byte { p[72] = 5; return p }), "ANAS"},
		{"NSID zero", edit(func(p []byte) []byte { copy(p[52:], le32(0)); return p }), "NSID"},
		{"broadcast NSID", edit(func(p []byte) []byte { copy(p[88:], le32(NSIDAll)); return p }), "NSID"},
		{"NSID in two groups", edit(func(p []byte) []byte { copy(p[88:], le32(3)); return p }), "NSID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l ANALog
			err := l.UnmarshalBinary(tt.p)
			var fe *FieldError
			switch {
			case tt.field == "" && !errors.Is(err, ErrShortBuffer):
				t.Fatalf("%v, want ErrShortBuffer", err)
			case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
				t.Fatalf("%v, want a FieldError for %s", err, tt.field)
			}
		})
	}
}

// The upper bits of ANAS are reserved: a state is read from bits 3:0.
func TestANALogStateBits(t *testing.T) {
	p, _ := anaLog.AppendBinary(nil)
	p[32] |= 0xf0
	var l ANALog
	if err := l.UnmarshalBinary(p); err != nil || l.Groups[0].State != ANAOptimized {
		t.Fatalf("%+v %v", l, err)
	}
}

func TestANALogEncodeRefuses(t *testing.T) {
	for _, l := range []ANALog{
		{Groups: []ANAGroup{{ANAGRPID: 0, State: ANAOptimized}}},
		{Groups: []ANAGroup{{ANAGRPID: 1, State: 5}}},
		{Groups: make([]ANAGroup, 0x10000)},
	} {
		if b, err := l.AppendBinary([]byte("x")); err == nil || string(b) != "x" {
			t.Errorf("%d groups: %q, %v; want an error and nothing appended", len(l.Groups), b, err)
		}
	}
}

func TestANAStateNames(t *testing.T) {
	tests := []struct {
		s    ANAState
		name string
	}{
		{ANAOptimized, "optimized"}, {ANANonOptimized, "non-optimized"}, {ANAInaccessible, "inaccessible"},
		{ANAPersistentLoss, "persistent-loss"}, {ANAChange, "change"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.name || !tt.s.Valid() {
			t.Errorf("%#x: %q, valid %v", uint8(tt.s), got, tt.s.Valid())
		}
		if s, err := ParseANAState(tt.name); err != nil || s != tt.s {
			t.Errorf("ParseANAState(%q) = %v, %v", tt.name, s, err)
		}
	}
	for _, s := range []ANAState{0, 5, 0xe, 0x10} {
		if s.Valid() {
			t.Errorf("%#x valid", uint8(s))
		}
	}
	if _, err := ParseANAState("optimised"); err == nil {
		t.Error("ParseANAState accepted a misspelling")
	}
}

func TestAsyncEventANAChange(t *testing.T) {
	// Type 2h (notice), information 03h, log page 0Ch: Linux's
	// NVME_AER_NOTICE_ANA.
	e := ParseAsyncEvent(0x0c0302)
	if !e.ANAChange() || e.NamespaceChanged() || e.Log != LogANA {
		t.Fatalf("%+v", e)
	}
	if ParseAsyncEvent(0x040002).ANAChange() {
		t.Fatal("namespace notice read as ANA change")
	}
}

// FuzzANALog: a log decodes, or fails with a typed error; what decodes
// holds no more than the page allows and encodes back to the same log.
func FuzzANALog(f *testing.F) {
	b, _ := anaLog.AppendBinary(nil)
	f.Add(b)
	f.Add(append(b, make([]byte, 64)...))
	empty := ANALog{CHGCNT: 1, Groups: []ANAGroup{{ANAGRPID: 2, State: ANAChange}}}
	b, _ = empty.AppendBinary(nil)
	f.Add(b)
	f.Fuzz(func(t *testing.T, p []byte) {
		var l ANALog
		err := l.UnmarshalBinary(p)
		if err != nil {
			var fe *FieldError
			if !errors.Is(err, ErrShortBuffer) && !errors.As(err, &fe) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if l.Size() > len(p) {
			t.Fatalf("decoded %d bytes of log from %d", l.Size(), len(p))
		}
		enc, err := l.AppendBinary(nil)
		if err != nil {
			t.Fatalf("decoded log does not encode: %v", err)
		}
		var again ANALog
		if err := again.UnmarshalBinary(enc); err != nil || !reflect.DeepEqual(again, l) {
			t.Fatalf("round trip: %+v, then %+v %v", l, again, err)
		}
	})
}

// The log pages a Linux nvmet target sent through its two ports decode to
// group 1 holding NSIDs 1-4, optimized through one port and inaccessible
// through the other; the page the host read was 8208 bytes, zero after.
func TestANALogFromLinux(t *testing.T) {
	b, err := os.ReadFile("testdata/linux-6.1-ana-log.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ANAState{"port 1": ANAOptimized, "port 2": ANAInaccessible}
	seen := 0
	for line := range strings.Lines(string(b)) {
		port, h, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok || strings.HasPrefix(port, "#") {
			continue
		}
		raw, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		p := append(raw, make([]byte, 8208-len(raw))...)
		var l ANALog
		if err := l.UnmarshalBinary(p); err != nil {
			t.Fatalf("%s: %v", port, err)
		}
		g := ANALog{CHGCNT: 1, Groups: []ANAGroup{{ANAGRPID: 1, CHGCNT: 1, State: want[port], NSIDs: []uint32{1, 2, 3, 4}}}}
		if !reflect.DeepEqual(l, g) {
			t.Fatalf("%s: %+v, want %+v", port, l, g)
		}
		enc, _ := l.AppendBinary(nil)
		if !bytes.Equal(enc, raw) {
			t.Fatalf("%s: encodes to % x, Linux sent % x", port, enc, raw)
		}
		seen++
	}
	if seen != 2 {
		t.Fatalf("%d pages in the file", seen)
	}
}
