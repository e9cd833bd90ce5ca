package tcp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"testing"
	"testing/iotest"

	"github.com/complchain/complchain/nvme"
)

// readAll decodes a captured byte stream of one direction of a queue,
// whose first PDU is ICReq or ICResp, and counts the PDUs by type.
func readAll(t testing.TB, stream []byte) (map[PDUType]int, []nvme.Command, []nvme.Completion) {
	r := NewReader(bytes.NewReader(stream), 1<<20)
	counts := map[PDUType]int{}
	var cmds []nvme.Command
	var cqes []nvme.Completion
	for first := true; ; first = false {
		p, err := r.Next()
		if err == io.EOF {
			return counts, cmds, cqes
		}
		if err != nil {
			t.Fatalf("PDU %d: %v", len(counts), err)
		}
		if first {
			d := p.Specific[3] // digest option bits of ICReq or ICResp
			r.SetDigests(d&DigestHeader != 0, d&DigestData != 0)
		}
		counts[p.Type]++
		switch p.Type {
		case TypeCapsuleCmd:
			var c nvme.Command
			c.UnmarshalBinary(p.Specific)
			cmds = append(cmds, c)
		case TypeCapsuleRsp:
			var c nvme.Completion
			c.UnmarshalBinary(p.Specific)
			cqes = append(cqes, c)
		}
	}
}

// Real Linux traffic, captured between Linux 6.1's host and target, decodes
// PDU by PDU, digests checked, and its completions answer its commands.
func TestLinuxCaptures(t *testing.T) {
	for _, name := range []string{"linux-nodigest", "linux-digests"} {
		h2c, err := os.ReadFile("testdata/" + name + ".h2c")
		if err != nil {
			t.Fatal(err)
		}
		c2h, err := os.ReadFile("testdata/" + name + ".c2h")
		if err != nil {
			t.Fatal(err)
		}
		hc, cmds, _ := readAll(t, h2c)
		cc, _, cqes := readAll(t, c2h)
		if hc[TypeICReq] != 1 || cc[TypeICResp] != 1 || hc[TypeCapsuleCmd] < 10 || cc[TypeC2HData] < 5 {
			t.Fatalf("%s: host sent %v, controller sent %v", name, hc, cc)
		}
		if cmds[0].Opcode != nvme.OpFabrics || cmds[0].FabricsType() != nvme.FabricsConnect {
			t.Fatalf("%s: first command %+v is not Connect", name, cmds[0])
		}
		sent := map[uint16]bool{}
		for _, c := range cmds {
			sent[c.CID] = true
		}
		for _, c := range cqes {
			if !sent[c.CID] {
				t.Fatalf("%s: completion for CID %d that was never sent", name, c.CID)
			}
		}
		if cqes[0].Status != 0 {
			t.Fatalf("%s: Connect failed: %v", name, cqes[0].Status)
		}
	}
}

func TestReaderRejects(t *testing.T) {
	capsule := func(mod func([]byte)) []byte {
		b := appendHeader(nil, TypeCapsuleRsp, 0, CapsuleRspLen, 0, CapsuleRspLen)
		b = append(b, make([]byte, 16)...)
		mod(b)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		fes  FES
	}{
		{"unknown type", capsule(func(b []byte) { b[0] = 0x08 }), FESInvalidHeader},
		{"bad HLEN", capsule(func(b []byte) { b[2] = 25 }), FESInvalidHeader},
		{"PLEN below HLEN", capsule(func(b []byte) { binary.LittleEndian.PutUint32(b[4:], 10) }), FESInvalidHeader},
		{"PLEN huge", capsule(func(b []byte) { binary.LittleEndian.PutUint32(b[4:], 1<<31) }), FESInvalidHeader},
		{"data without PDO", capsule(func(b []byte) { binary.LittleEndian.PutUint32(b[4:], 40) }), FESInvalidHeader},
	}
	for _, tt := range tests {
		_, err := NewReader(bytes.NewReader(tt.in), 4096).Next()
		var te *TermError
		if !errors.As(err, &te) || te.FES != tt.fes {
			t.Errorf("%s: %v, want FES %v", tt.name, err, tt.fes)
		}
	}
	// A PDU cut short is an unexpected EOF, not a protocol error.
	full := capsule(func([]byte) {})
	if _, err := NewReader(bytes.NewReader(full[:20]), 4096).Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated PDU: %v, want ErrUnexpectedEOF", err)
	}
	// A header digest that does not match.
	r := NewReader(bytes.NewReader(append(capsule(func(b []byte) {
		b[1] = FlagHDGST
		binary.LittleEndian.PutUint32(b[4:], CapsuleRspLen+4)
	}), 1, 2, 3, 4)), 4096)
	r.SetDigests(true, false)
	var te *TermError
	if _, err := r.Next(); !errors.As(err, &te) || te.FES != FESHeaderDigest {
		t.Errorf("bad header digest: %v", err)
	}
}

// FuzzReader feeds arbitrary streams to the reader: it must return PDUs or
// errors, never panic, and never allocate beyond its limit.
func FuzzReader(f *testing.F) {
	for _, name := range []string{"linux-nodigest", "linux-digests"} {
		for _, dir := range []string{".h2c", ".c2h"} {
			b, err := os.ReadFile("testdata/" + name + dir)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b[:min(len(b), 8192)], name == "linux-digests")
		}
	}
	f.Fuzz(func(t *testing.T, stream []byte, digests bool) {
		r := NewReader(bytes.NewReader(stream), 8192)
		r.SetDigests(digests, digests)
		for range 1000 {
			p, err := r.Next()
			if err != nil && !errors.Is(err, ErrDataDigest) {
				return
			}
			if len(p.Data) > 8192 || int(p.PLen) > len(stream) {
				t.Fatalf("PDU %+v beyond limits", p.Header)
			}
			if cap(r.buf) > 8192+512 {
				t.Fatalf("reader buffer grew to %d", cap(r.buf))
			}
		}
	})
}

// BenchmarkDecode decodes a stream of capsules, 0 allocations a PDU.
func BenchmarkDecode(b *testing.B) {
	var cqe nvme.Completion
	resp := appendHeader(nil, TypeCapsuleRsp, 0, CapsuleRspLen, 0, CapsuleRspLen)
	resp, _ = cqe.AppendBinary(resp)
	cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
	for _, bc := range []struct {
		name   string
		pdu    []byte
		decode func([]byte) error
	}{
		{"CapsuleResp", resp, cqe.UnmarshalBinary},
		{"CapsuleCmd", Digests{}.AppendCapsuleCmd(nil, &cmd, nil), cmd.UnmarshalBinary},
	} {
		b.Run(bc.name, func(b *testing.B) {
			stream := bytes.Repeat(bc.pdu, 4096)
			src := bytes.NewReader(stream)
			r := NewReader(src, 4096)
			b.SetBytes(int64(len(bc.pdu)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%4096 == 0 {
					src.Reset(stream)
				}
				p, err := r.Next()
				if err != nil {
					b.Fatal(err)
				}
				bc.decode(p.Specific)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "PDUs/s")
		})
	}
}

// Every writer's PDU reads back through a Reader with the same digests.
func TestWritersRoundTrip(t *testing.T) {
	for _, d := range []Digests{{}, {Header: true}, {Data: true}, {true, true}} {
		cmd := nvme.Command{Opcode: nvme.OpWrite, CID: 7, NSID: 1, CDW12: 3}
		cqe := nvme.Completion{Result: 0x1122334455667788, SQHead: 3, SQID: 1, CID: 7, Status: nvme.StatusInvalidField}
		data := bytes.Repeat([]byte{0xa5, 0x5a}, 1000)
		var b []byte
		b = d.AppendCapsuleCmd(b, &cmd, data)
		b = d.AppendCapsuleCmd(b, &cmd, nil)
		b = d.AppendCapsuleResp(b, &cqe)
		b = d.AppendData(b, TypeC2HData, FlagDataLast, DataHeader{CID: 7, Offset: 4096}, data)
		b = d.AppendData(b, TypeR2T, 0, DataHeader{CID: 7, TTag: 9, Offset: 8, Length: 4096}, nil)
		b = AppendICResp(b, ICResp{Digests: DigestHeader, MaxH2CData: 8192})
		r := NewReader(bytes.NewReader(b), 4096)
		r.SetDigests(d.Header, d.Data)
		next := func(want PDUType) PDU {
			t.Helper()
			p, err := r.Next()
			if err != nil || p.Type != want {
				t.Fatalf("digests %+v: %v type %#x, want %#x", d, err, p.Type, want)
			}
			return p
		}
		var c nvme.Command
		p := next(TypeCapsuleCmd)
		c.UnmarshalBinary(p.Specific)
		if c != cmd || !bytes.Equal(p.Data, data) {
			t.Fatalf("digests %+v: capsule %+v with %d bytes", d, c, len(p.Data))
		}
		if p = next(TypeCapsuleCmd); len(p.Data) != 0 || p.PDO != 0 {
			t.Fatalf("capsule without data has %d bytes, PDO %d", len(p.Data), p.PDO)
		}
		var cq nvme.Completion
		cq.UnmarshalBinary(next(TypeCapsuleRsp).Specific)
		if cq != cqe {
			t.Fatalf("completion %+v, want %+v", cq, cqe)
		}
		p = next(TypeC2HData)
		if h := ParseDataHeader(p); h != (DataHeader{CID: 7, Offset: 4096, Length: 2000}) || !bytes.Equal(p.Data, data) || p.Flags&FlagDataLast == 0 {
			t.Fatalf("C2HData %+v flags %#x", h, p.Flags)
		}
		if h := ParseDataHeader(next(TypeR2T)); h != (DataHeader{CID: 7, TTag: 9, Offset: 8, Length: 4096}) {
			t.Fatalf("R2T %+v", h)
		}
		if ic, err := ParseICResp(next(TypeICResp)); err != nil || ic.MaxH2CData != 8192 || ic.Digests != DigestHeader {
			t.Fatalf("ICResp %+v %v", ic, err)
		}
	}
}

// PDUs that fit in the Reader's buffer are read where they lie, larger
// ones are copied out of it: either way each PDU's data is whole and
// intact, also when a PDU straddles a refill of the buffer.
func TestReaderInPlaceAndCopied(t *testing.T) {
	sizes := []int{4096, 0, 70000, 4096, 65536 - DataHLen, 65536, 1, 4096}
	var b []byte
	for i, n := range sizes {
		b = Digests{Data: true}.AppendData(b, TypeC2HData, FlagDataLast, DataHeader{CID: uint16(i)}, bytes.Repeat([]byte{byte(i + 1)}, n))
	}
	for _, chunk := range []int{1, 1000, 4096, len(b)} {
		r := NewReader(iotest.OneByteReader(bytes.NewReader(b)), 1<<20)
		if chunk > 1 {
			r = NewReader(&chunked{b: b, n: chunk}, 1<<20)
		}
		r.SetDigests(false, true)
		for i, n := range sizes {
			p, err := r.Next()
			if err != nil {
				t.Fatalf("chunks of %d, PDU %d: %v", chunk, i, err)
			}
			if h := ParseDataHeader(p); int(h.CID) != i || len(p.Data) != n || bytes.Count(p.Data, []byte{byte(i + 1)}) != n {
				t.Fatalf("chunks of %d, PDU %d: CID %d, %d bytes of data, want %d", chunk, i, h.CID, len(p.Data), n)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("chunks of %d: after the last PDU, %v, want EOF", chunk, err)
		}
	}
}

// chunked reads b at most n bytes at a time.
type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// BenchmarkReaderIdentify reads the answer to one Identify command: a
// C2HData PDU of 4 KiB and a CapsuleResp.
func BenchmarkReaderIdentify(b *testing.B) {
	var one []byte
	one = Digests{}.AppendData(one, TypeC2HData, FlagDataLast, DataHeader{CID: 1}, make([]byte, nvme.IdentifySize))
	one = Digests{}.AppendCapsuleResp(one, &nvme.Completion{CID: 1})
	r := NewReader(&cycle{b: one}, 1<<20)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		for range 2 {
			if _, err := r.Next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// cycle reads b over and over.
type cycle struct {
	b   []byte
	off int
}

func (c *cycle) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.b[c.off:])
		n += k
		c.off = (c.off + k) % len(c.b)
	}
	return n, nil
}

func BenchmarkEncodeCapsuleCmd(b *testing.B) {
	cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = Digests{true, true}.AppendCapsuleCmd(buf[:0], &cmd, nil)
	}
}

func BenchmarkEncodeCapsuleResp(b *testing.B) {
	cqe := nvme.Completion{CID: 3, SQHead: 9}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = Digests{}.AppendCapsuleResp(buf[:0], &cqe)
	}
}

// Our writers reproduce, byte for byte, every PDU Linux sent in the
// captures, digests included.
func TestReencodeLinux(t *testing.T) {
	for _, name := range []string{"linux-nodigest", "linux-digests"} {
		for _, dir := range []string{".h2c", ".c2h"} {
			stream, err := os.ReadFile("testdata/" + name + dir)
			if err != nil {
				t.Fatal(err)
			}
			r := NewReader(bytes.NewReader(stream), 1<<20)
			var d Digests
			seen := map[PDUType]int{}
			for off := 0; off < len(stream); {
				p, err := r.Next()
				if err != nil {
					t.Fatalf("%s%s at %d: %v", name, dir, off, err)
				}
				raw := stream[off : off+int(p.PLen)]
				off += int(p.PLen)
				var got []byte
				switch p.Type {
				case TypeICReq:
					ic, _ := ParseICReq(p)
					got = AppendICReq(nil, ic)
					d = Digests{ic.Digests&DigestHeader != 0, ic.Digests&DigestData != 0}
					r.SetDigests(d.Header, d.Data)
				case TypeICResp:
					ic, _ := ParseICResp(p)
					got = AppendICResp(nil, ic)
					d = Digests{ic.Digests&DigestHeader != 0, ic.Digests&DigestData != 0}
					r.SetDigests(d.Header, d.Data)
				case TypeCapsuleCmd:
					var c nvme.Command
					c.UnmarshalBinary(p.Specific)
					got = d.AppendCapsuleCmd(nil, &c, p.Data)
				case TypeCapsuleRsp:
					var c nvme.Completion
					c.UnmarshalBinary(p.Specific)
					if binary.LittleEndian.Uint16(p.Specific[14:])&1 != 0 {
						t.Fatalf("phase bit set in a fabrics completion")
					}
					got = d.AppendCapsuleResp(nil, &c)
				case TypeC2HData, TypeH2CData, TypeR2T:
					got = d.AppendData(nil, p.Type, p.Flags&(FlagDataLast|FlagDataSuccess), ParseDataHeader(p), p.Data)
				default:
					continue
				}
				seen[p.Type]++
				if !bytes.Equal(got, raw) {
					t.Fatalf("%s%s: PDU type %#x at %d\n got %x\nwant %x", name, dir, p.Type, off-len(raw), got[:min(len(got), 96)], raw[:min(len(raw), 96)])
				}
			}
			t.Logf("%s%s: re-encoded %v", name, dir, seen)
		}
	}
}

// PDUs the captures lack, beside their bytes as the transport
// specification lays them out.
func TestEncodeBytes(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"R2T", Digests{}.AppendData(nil, TypeR2T, 0, DataHeader{CID: 0x0102, TTag: 0x0304, Offset: 0x1000, Length: 0x2000}, nil), []byte{
			0x09, 0x00, 24, 0, 24, 0, 0, 0, // type, flags, HLEN, PDO, PLEN
			0x02, 0x01, 0x04, 0x03, // CCCID, TTAG
			0x00, 0x10, 0, 0, 0x00, 0x20, 0, 0, // R2TO, R2TL
			0, 0, 0, 0}},
		{"H2CData", Digests{}.AppendData(nil, TypeH2CData, FlagDataLast, DataHeader{CID: 5, TTag: 6, Offset: 8}, []byte{0xaa, 0xbb}), []byte{
			0x06, FlagDataLast, 24, 24, 26, 0, 0, 0,
			5, 0, 6, 0, 8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
			0xaa, 0xbb}},
		{"C2HTermReq", AppendTermReq(nil, TypeC2HTermReq, FESDataRange, 12, []byte{0x07, 0, 24, 24}), []byte{
			0x03, 0, 24, 0, 28, 0, 0, 0,
			0x04, 0x00, 12, 0, 0, 0, // FES, FEI
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			0x07, 0, 24, 24}},
		{"ICReq", AppendICReq(nil, ICReq{Digests: DigestHeader | DigestData})[:16], []byte{
			0x00, 0, 128, 0, 128, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s:\n got %x\nwant %x", tt.name, tt.got, tt.want)
		}
	}
	var cqe nvme.Completion
	hd := Digests{Header: true}.AppendCapsuleResp(nil, &cqe)
	if len(hd) != 28 || hd[1] != FlagHDGST || binary.LittleEndian.Uint32(hd[24:]) != crc32.Checksum(hd[:24], crc32.MakeTable(crc32.Castagnoli)) {
		t.Errorf("CapsuleResp with header digest: %x", hd)
	}
}

// appendDataPDUs splits data at max bytes a PDU, offsets counted from
// the header's, the last PDU flagged, with or without digests.
func TestAppendDataPDUs(t *testing.T) {
	const max = 8192
	tests := []struct {
		name  string
		t     PDUType
		start uint32 // the header's offset
		n     int    // bytes of data
		sizes []int  // of each PDU
	}{
		{"no data", TypeC2HData, 0, 0, nil},
		{"one byte", TypeC2HData, 0, 1, []int{1}},
		{"one PDU", TypeC2HData, 0, max, []int{max}},
		{"one byte over", TypeC2HData, 0, max + 1, []int{max, 1}},
		{"three PDUs, R2T offset", TypeH2CData, 65536, 3*max - 4, []int{max, max, max - 4}},
	}
	for _, tt := range tests {
		for _, dg := range []Digests{{}, {Header: true, Data: true}} {
			data := make([]byte, tt.n)
			for i := range data {
				data[i] = byte(i * 7)
			}
			b := dg.appendDataPDUs(nil, tt.t, DataHeader{CID: 9, TTag: 3, Offset: tt.start}, data, max)
			r := NewReader(bytes.NewReader(b), max)
			r.SetDigests(dg.Header, dg.Data)
			var got []byte
			for i, size := range tt.sizes {
				p, err := r.Next()
				if err != nil {
					t.Fatalf("%s, digests %v: PDU %d: %v", tt.name, dg, i, err)
				}
				h := ParseDataHeader(p)
				wantFlags := uint8(0)
				if i == len(tt.sizes)-1 {
					wantFlags = FlagDataLast
				}
				if p.Type != tt.t || h.CID != 9 || h.TTag != 3 || h.Offset != tt.start+uint32(len(got)) ||
					int(h.Length) != size || len(p.Data) != size || p.Flags&FlagDataLast != wantFlags {
					t.Fatalf("%s, digests %v: PDU %d: type %v flags %#x %+v with %d bytes", tt.name, dg, i, p.Type, p.Flags, h, len(p.Data))
				}
				got = append(got, p.Data...)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("%s, digests %v: after %d PDUs: %v, want io.EOF", tt.name, dg, len(tt.sizes), err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%s, digests %v: the PDUs carry other data", tt.name, dg)
			}
		}
	}
}
