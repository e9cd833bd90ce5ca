package iscsi

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The data digest goes on the wire least significant byte first, as
// Linux and LIO send it: a data segment of each CRC32C test vector of
// RFC 3720 Appendix B.4 ends with the bytes the RFC gives.
func TestDataDigestOnTheWire(t *testing.T) {
	inc, dec := make([]byte, 32), make([]byte, 32)
	for i := range 32 {
		inc[i], dec[i] = byte(i), byte(31-i)
	}
	tests := []struct {
		data []byte
		wire [4]byte
	}{
		{make([]byte, 32), [4]byte{0xaa, 0x36, 0x91, 0x8a}},
		{bytes.Repeat([]byte{0xff}, 32), [4]byte{0x43, 0xab, 0xa8, 0x62}},
		{inc, [4]byte{0x4e, 0x79, 0xdd, 0x46}},
		{dec, [4]byte{0x5c, 0xdb, 0x3f, 0x11}},
	}
	for _, tt := range tests {
		b := AppendPDU(nil, &PDU{Data: tt.data}, Limits{DataDigest: true})
		if got := [4]byte(b[len(b)-4:]); got != tt.wire {
			t.Errorf("digest of % x… = % x, want % x", tt.data[:4], got, tt.wire)
		}
	}
}

// seed reads a PDU of a fuzz seed taken from the LIO capture.
func seed(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/fuzz/FuzzReadPDU/" + name)
	if err != nil {
		t.Fatal(err)
	}
	lit := strings.SplitN(string(b), "\n", 3)[1]
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}

// PDUs LIO sent decode to the fields tshark shows, and encode back to
// the same bytes.
func TestDecodeLIOPDUs(t *testing.T) {
	tests := []struct {
		file   string
		op     Opcode
		flags  byte
		itt    uint32
		u32    map[int]uint32 // offset: value
		data   int
		prefix string
	}{
		{"lio-tgt-005-op23", OpLoginResp, 0x87, 0x1001, map[int]uint32{offCmdSN: 0xd1296205, offExpStatSN: 1, offMaxCmdSN: 1}, 0x7f, "HeaderDigest=None\x00"},
		{"lio-tgt-006-op24", OpTextResp, FlagFinal, 0x1002, map[int]uint32{offTTT: ReservedTag, offMaxCmdSN: 2}, 0x11c, "TargetName=iqn.2026-01.io.example:host0\x00"},
	}
	for _, tt := range tests {
		b := seed(t, tt.file)
		p, err := ReadPDU(bytes.NewReader(b), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		h := &p.BHS
		if h.Opcode() != tt.op || h.Flags() != tt.flags || h.ITT() != tt.itt || len(p.Data) != tt.data || !strings.HasPrefix(string(p.Data), tt.prefix) {
			t.Errorf("%s: %v flags %#x ITT %#x, %d bytes %.20q", tt.file, h.Opcode(), h.Flags(), h.ITT(), len(p.Data), p.Data)
		}
		for off, v := range tt.u32 {
			if h.U32(off) != v {
				t.Errorf("%s: field at %d = %#x, want %#x", tt.file, off, h.U32(off), v)
			}
		}
		if got := AppendPDU(nil, p, Limits{}); !bytes.Equal(got, b) {
			t.Errorf("%s: re-encoded differs", tt.file)
		}
	}
}

// Bad input to the decoder is a typed error, read no further than the
// limits allow.
func TestReadPDUErrors(t *testing.T) {
	pdu := func(data int, l Limits) []byte {
		p := &PDU{Data: make([]byte, data)}
		p.BHS.SetOpcode(OpNOPIn, false)
		return AppendPDU(nil, p, l)
	}
	digests := Limits{HeaderDigest: true, DataDigest: true}
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	tests := []struct {
		name string
		b    []byte
		l    Limits
		is   func(error) bool
	}{
		{"data segment above the limit", pdu(600, Limits{}), Limits{MaxRecvDataSegmentLength: 512}, isProtocol},
		{"cut in the header", pdu(0, Limits{})[:20], Limits{}, func(e error) bool { return errors.Is(e, io.ErrUnexpectedEOF) }},
		{"cut in the data", pdu(100, Limits{})[:100], Limits{}, func(e error) bool { return errors.Is(e, io.ErrUnexpectedEOF) }},
		{"header digest", flip(pdu(4, digests), 9), digests, isHeaderDigest},
		{"data digest", flip(pdu(4, digests), 53), digests, func(e error) bool { var d *DigestError; return errors.As(e, &d) && !d.Header }},
		{"undefined opcode", func() []byte { b := pdu(0, Limits{}); b[0] = 0x1c; return b }(), Limits{}, isProtocol},
		{"empty", nil, Limits{}, func(e error) bool { return e == io.EOF }},
	}
	for _, tt := range tests {
		if _, err := ReadPDU(bytes.NewReader(tt.b), tt.l); !tt.is(err) {
			t.Errorf("%s: %v (%T)", tt.name, err, err)
		}
	}
}

func isProtocol(e error) bool     { var p *ProtocolError; return errors.As(e, &p) }
func isHeaderDigest(e error) bool { var d *DigestError; return errors.As(e, &d) && d.Header }

func TestParseTextErrors(t *testing.T) {
	for _, b := range []string{
		"Key=value",                        // no NUL
		"Keyvalue\x00",                     // no '='
		"=value\x00",                       // empty key
		"Ke y=v\x00",                       // a space in the key
		strings.Repeat("K", 64) + "=v\x00", // key too long
		"K=" + strings.Repeat("v", 8193) + "\x00",
		"K=\xc3\x28\x00", // not UTF-8
	} {
		if _, err := ParseText(OpTextReq, []byte(b)); !isProtocol(err) {
			t.Errorf("%.20q: %v", b, err)
		}
	}
	pairs, err := ParseText(OpTextReq, []byte("A=1\x00\x00B=\x00C=x=y\x00"))
	if err != nil || len(pairs) != 3 || pairs[1] != (Pair{"B", ""}) || pairs[2] != (Pair{"C", "x=y"}) {
		t.Errorf("%q, %v", pairs, err)
	}
}

// RFC 1982 with SERIAL_BITS 32.
func TestSerialArithmetic(t *testing.T) {
	tests := []struct {
		a, b uint32
		less bool
	}{
		{1, 2, true}, {2, 1, false}, {5, 5, false},
		{0xffffffff, 0, true}, {0, 0xffffffff, false},
		{0xfffffff0, 0x10, true},
		{0, 1 << 31, false}, {1 << 31, 0, false}, // undefined: neither
		{0, 1<<31 - 1, true},
	}
	for _, tt := range tests {
		if got := serialLess(tt.a, tt.b); got != tt.less {
			t.Errorf("serialLess(%#x, %#x) = %v", tt.a, tt.b, got)
		}
	}
	if !inWindow(0xfffffffe, 0xfffffffd, 3) || inWindow(4, 0xfffffffd, 3) {
		t.Error("inWindow across the wrap")
	}
}
