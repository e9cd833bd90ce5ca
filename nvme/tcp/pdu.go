package tcp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/complchain/complchain/internal/crc32c"
	"github.com/complchain/complchain/internal/grow"
	"github.com/complchain/complchain/nvme"
)

// PDUType is the type of an NVMe/TCP PDU.
type PDUType uint8

// PDU types.
const (
	TypeICReq      PDUType = 0x00
	TypeICResp     PDUType = 0x01
	TypeH2CTermReq PDUType = 0x02
	TypeC2HTermReq PDUType = 0x03
	TypeCapsuleCmd PDUType = 0x04
	TypeCapsuleRsp PDUType = 0x05
	TypeH2CData    PDUType = 0x06
	TypeC2HData    PDUType = 0x07
	TypeR2T        PDUType = 0x09
)

// Header lengths (HLEN) of each PDU type.
const (
	ICLen         = 128
	TermReqHLen   = 24
	CapsuleCmdLen = 72
	CapsuleRspLen = 24
	DataHLen      = 24
	R2THLen       = 24
	commonLen     = 8
	digestLen     = 4
)

// PDU header flags.
const (
	FlagHDGST       = 1 << 0 // a header digest follows the header
	FlagDDGST       = 1 << 1 // a data digest follows the data
	FlagDataLast    = 1 << 2 // last data PDU of a transfer
	FlagDataSuccess = 1 << 3 // C2HData: the command succeeded, no CapsuleResp follows
)

// ICReq/ICResp digest option bits.
const (
	DigestHeader = 1 << 0
	DigestData   = 1 << 1
)

// MinMaxH2CData is the smallest MAXH2CDATA a controller may advertise.
const MinMaxH2CData = 4096

// FES is a fatal error status, carried by H2CTermReq and C2HTermReq PDUs.
type FES uint16

// Fatal error statuses.
const (
	FESInvalidHeader     FES = 0x01 // invalid PDU header field
	FESSequence          FES = 0x02 // PDU sequence error
	FESHeaderDigest      FES = 0x03 // header digest error
	FESDataRange         FES = 0x04 // data transfer out of range
	FESDataLimit         FES = 0x05 // data transfer limit exceeded
	FESUnsupportedParams FES = 0x06 // unsupported parameter
)

var fesNames = map[FES]string{
	FESInvalidHeader:     "invalid PDU header field",
	FESSequence:          "PDU sequence error",
	FESHeaderDigest:      "header digest error",
	FESDataRange:         "data transfer out of range",
	FESDataLimit:         "data transfer limit exceeded",
	FESUnsupportedParams: "unsupported parameter",
}

func (f FES) String() string {
	if s, ok := fesNames[f]; ok {
		return s
	}
	return fmt.Sprintf("fatal error status %#x", uint16(f))
}

// A TermError is a fatal NVMe/TCP protocol error: one this side detected
// (and sent a TermReq for), or one the peer reported in a TermReq.
type TermError struct {
	FES    FES
	Offset uint32 // FEI: byte offset of the offending field in the PDU header
	Remote bool   // the peer sent the TermReq
	Reason string // what was wrong, when detected locally
}

func (e *TermError) Error() string {
	who := "protocol error"
	if e.Remote {
		who = "peer terminated the connection"
	}
	s := fmt.Sprintf("nvme/tcp: %s: %v (offset %d)", who, e.FES, e.Offset)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

func protoErr(fes FES, off uint32, format string, a ...any) *TermError {
	return &TermError{FES: fes, Offset: off, Reason: fmt.Sprintf(format, a...)}
}

// Header is the common header of a PDU.
type Header struct {
	Type  PDUType
	Flags uint8
	HLen  uint8
	PDO   uint8  // data offset from the start of the PDU, or 0
	PLen  uint32 // total length of the PDU
}

// ErrShortHeader is returned when fewer than 8 bytes are given as a
// common header.
var ErrShortHeader = errors.New("nvme/tcp: short PDU header")

// ParseHeader decodes a common header.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < commonLen {
		return Header{}, ErrShortHeader
	}
	return Header{Type: PDUType(b[0]), Flags: b[1], HLen: b[2], PDO: b[3], PLen: binary.LittleEndian.Uint32(b[4:])}, nil
}

func appendHeader(b []byte, t PDUType, flags, hlen, pdo uint8, plen int) []byte {
	b = append(b, byte(t), flags, hlen, pdo)
	return binary.LittleEndian.AppendUint32(b, uint32(plen))
}

// Digests says which digests a connection carries, as negotiated by ICReq
// and ICResp. The zero value carries none.
type Digests struct{ Header, Data bool }

// beginPDU appends the common header of a PDU of type t whose
// type-specific header is hlen bytes and whose data is n bytes. With data,
// PDO points right after the header and its digest (CPDA 0).
func (d Digests) beginPDU(b []byte, t PDUType, flags uint8, hlen, n int) []byte {
	plen, pdo := hlen, 0
	if d.Header {
		flags |= FlagHDGST
		plen += digestLen
	}
	if n > 0 {
		pdo = plen
		plen += n
		if d.Data {
			flags |= FlagDDGST
			plen += digestLen
		}
	}
	return appendHeader(b, t, flags, uint8(hlen), uint8(pdo), plen)
}

// endPDU appends the header digest over b[start:], then data and its
// digest.
func (d Digests) endPDU(b []byte, start int, data []byte) []byte {
	if d.Header {
		b = binary.LittleEndian.AppendUint32(b, crc32c.Checksum(b[start:]))
	}
	if len(data) > 0 {
		b = append(b, data...)
		if d.Data {
			b = binary.LittleEndian.AppendUint32(b, crc32c.Checksum(data))
		}
	}
	return b
}

// AppendCapsuleCmd appends a CapsuleCmd PDU carrying c and its in-capsule
// data (none if data is empty) to b.
func (d Digests) AppendCapsuleCmd(b []byte, c *nvme.Command, data []byte) []byte {
	start := len(b)
	b = d.beginPDU(b, TypeCapsuleCmd, 0, CapsuleCmdLen, len(data))
	b, _ = c.AppendBinary(b)
	return d.endPDU(b, start, data)
}

// AppendCapsuleResp appends a CapsuleResp PDU carrying c to b.
func (d Digests) AppendCapsuleResp(b []byte, c *nvme.Completion) []byte {
	start := len(b)
	b = d.beginPDU(b, TypeCapsuleRsp, 0, CapsuleRspLen, 0)
	b, _ = c.AppendBinary(b)
	return d.endPDU(b, start, nil)
}

// AppendData appends a data PDU (TypeH2CData or TypeC2HData) to b, or an
// R2T PDU if t is TypeR2T (data must then be empty). h.Length is set to
// len(data) for data PDUs. flags may hold FlagDataLast and
// FlagDataSuccess.
func (d Digests) AppendData(b []byte, t PDUType, flags uint8, h DataHeader, data []byte) []byte {
	if t != TypeR2T {
		h.Length = uint32(len(data))
	}
	start := len(b)
	b = d.beginPDU(b, t, flags, DataHLen, len(data))
	b = binary.LittleEndian.AppendUint16(b, h.CID)
	b = binary.LittleEndian.AppendUint16(b, h.TTag)
	b = binary.LittleEndian.AppendUint32(b, h.Offset)
	b = binary.LittleEndian.AppendUint32(b, h.Length)
	b = append(b, 0, 0, 0, 0)
	return d.endPDU(b, start, data)
}

// appendDataPDUs appends data as data PDUs of type t (TypeH2CData or
// TypeC2HData) of at most max bytes each, the first at h.Offset; the last
// carries FlagDataLast. max must be positive.
func (d Digests) appendDataPDUs(b []byte, t PDUType, h DataHeader, data []byte, max int) []byte {
	start := h.Offset
	for off := 0; off < len(data); off += max {
		n := min(max, len(data)-off)
		var flags uint8
		if off+n == len(data) {
			flags = FlagDataLast
		}
		h.Offset = start + uint32(off)
		b = d.AppendData(b, t, flags, h, data[off:off+n])
	}
	return b
}

// A PDU is one decoded PDU. Its slices point into the Reader's buffer and
// are valid until the next call of Next.
type PDU struct {
	Header
	Specific []byte // the type-specific header: bytes 8..HLEN
	Data     []byte // the data, without padding or digest
}

// A Reader reads PDUs from a byte stream.
type Reader struct {
	r            *bufio.Reader
	buf          []byte  // the last PDU, if larger than r's buffer and copied out of it
	held         *[]byte // copiedPool's holder that buf came in, if any
	inPlace      int     // bytes of the last PDU, read in r's buffer: skipped by the next Next
	maxData      int
	hdgst, ddgst bool
}

// Sizes of a Reader's buffer: a target reads a connection through a
// small one until its Connect succeeded, so that hosts that connect and
// send little cost little.
const (
	readBufSize    = 64 << 10
	connectBufSize = 4 << 10
)

// NewReader returns a Reader of PDUs carrying at most maxData bytes of
// data each.
func NewReader(r io.Reader, maxData int) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, readBufSize), maxData: maxData}
}

// growBuffer makes r read through a buffer of readBufSize bytes, placed
// in front of the one it has, whose bytes are read first. The slices of
// the last PDU are no longer valid.
func (r *Reader) growBuffer() {
	if r.inPlace > 0 {
		r.r.Discard(r.inPlace) // buffered: cannot fail
		r.inPlace = 0
	}
	r.r = bufio.NewReaderSize(r.r, readBufSize)
}

// SetDigests sets whether PDUs carry header and data digests, as
// negotiated by ICReq and ICResp.
func (r *Reader) SetDigests(header, data bool) { r.hdgst, r.ddgst = header, data }

// hlens gives the header length each PDU type must have.
var hlens = [...]uint8{
	TypeICReq: ICLen, TypeICResp: ICLen, TypeH2CTermReq: TermReqHLen, TypeC2HTermReq: TermReqHLen,
	TypeCapsuleCmd: CapsuleCmdLen, TypeCapsuleRsp: CapsuleRspLen, TypeH2CData: DataHLen,
	TypeC2HData: DataHLen, 0x08: 0, TypeR2T: R2THLen,
}

// Next reads and validates the next PDU. Errors in the PDU's format are
// *TermError values; I/O errors are returned as they are. A PDU whose data
// digest does not match is returned with ErrDataDigest.
func (r *Reader) Next() (PDU, error) {
	if r.inPlace > 0 {
		r.r.Discard(r.inPlace) // buffered: cannot fail
		r.inPlace = 0
	}
	if r.buf != nil && cap(r.buf) <= maxPooled {
		// The last PDU was copied out: between PDUs a connection holds
		// its buffered reader only, whatever PDUs up to maxPooled it
		// sent. A larger buffer is kept: growing one for each PDU
		// would cost as much as the PDU's bytes again, in allocations.
		if r.held == nil {
			r.held = new([]byte)
		}
		*r.held = r.buf
		copiedPool.Put(r.held)
		r.buf, r.held = nil, nil
	}
	ch, err := r.r.Peek(commonLen)
	if err != nil {
		if len(ch) > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return PDU{}, err
	}
	h, _ := ParseHeader(ch)
	if int(h.Type) >= len(hlens) || hlens[h.Type] == 0 {
		return PDU{}, protoErr(FESInvalidHeader, 0, "unknown PDU type %#x", uint8(h.Type))
	}
	if h.HLen != hlens[h.Type] {
		return PDU{}, protoErr(FESInvalidHeader, 2, "HLEN %d for PDU type %#x, want %d", h.HLen, uint8(h.Type), hlens[h.Type])
	}
	isIC := h.Type == TypeICReq || h.Type == TypeICResp
	isTerm := h.Type == TypeH2CTermReq || h.Type == TypeC2HTermReq
	hd := 0
	if r.hdgst && !isIC && !isTerm {
		hd = digestLen
		if h.Flags&FlagHDGST == 0 {
			return PDU{}, protoErr(FESInvalidHeader, 1, "header digest missing")
		}
	}
	hdrEnd := int(h.HLen) + hd
	plen := int(h.PLen)
	limit := hdrEnd + 255 + r.maxData + digestLen // header, padding, data, digest
	if isTerm {
		limit = 152
	}
	if plen < hdrEnd || plen > limit {
		return PDU{}, protoErr(FESInvalidHeader, 4, "PLEN %d out of range [%d, %d] for PDU type %#x", plen, hdrEnd, limit, uint8(h.Type))
	}
	dataStart := plen
	if h.PDO != 0 {
		if isIC || isTerm || int(h.PDO) < hdrEnd || int(h.PDO) > plen {
			return PDU{}, protoErr(FESInvalidHeader, 3, "PDO %d for PDU type %#x with PLEN %d", h.PDO, uint8(h.Type), plen)
		}
		dataStart = int(h.PDO)
	} else if plen > hdrEnd && !isTerm {
		return PDU{}, protoErr(FESInvalidHeader, 3, "PDO 0 with %d bytes after the header", plen-hdrEnd)
	}
	var b []byte
	if plen <= r.r.Size() {
		// Most PDUs fit in the buffer: use them where they are, and
		// skip them on the next call.
		if b, err = r.r.Peek(plen); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return PDU{}, err
		}
		r.inPlace = plen
	} else {
		// Larger PDUs are copied out into r.buf, which grows as their
		// bytes arrive: a header announcing PLEN costs little.
		b = r.buf[:0] // kept: larger than maxPooled
		if b == nil {
			b = r.copiedBuf()
		}
		r.buf, err = grow.ReadFull(r.r, b, plen)
		if r.held != nil && cap(r.buf) > maxPooled {
			r.held = nil // the PDU outgrew the pooled buffer: let it go
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return PDU{}, err
		}
		b = r.buf
	}
	if hd != 0 && binary.LittleEndian.Uint32(b[h.HLen:]) != crc32c.Checksum(b[:h.HLen]) {
		return PDU{}, protoErr(FESHeaderDigest, 0, "header digest mismatch")
	}
	p := PDU{Header: h, Specific: b[commonLen:h.HLen]}
	if isTerm {
		return p, nil
	}
	data := b[dataStart:]
	var ddgst []byte
	if len(data) > 0 && r.ddgst {
		if h.Flags&FlagDDGST == 0 || len(data) < digestLen {
			return PDU{}, protoErr(FESInvalidHeader, 1, "data digest missing")
		}
		data, ddgst = data[:len(data)-digestLen], data[len(data)-digestLen:]
	}
	if len(data) > r.maxData {
		return PDU{}, protoErr(FESDataLimit, 4, "%d bytes of data, limit %d", len(data), r.maxData)
	}
	p.Data = data
	if ddgst != nil && binary.LittleEndian.Uint32(ddgst) != crc32c.Checksum(data) {
		return p, ErrDataDigest
	}
	return p, nil
}

// copiedPool holds the buffers of PDUs copied out of a Reader's
// buffered reader (*[]byte), between two such PDUs: those of at most
// maxPooled bytes, which copiedBuf hands out again once 64 KiB of a PDU
// are buffered (an H2CData of the default MAXH2CDATA, 128 KiB, fits).
var copiedPool sync.Pool

// maxPooled is the capacity of the largest buffer given to copiedPool:
// 2.5 × readBufSize, the most copiedBuf takes for a PDU whose first
// readBufSize bytes are buffered.
const maxPooled = readBufSize * 5 / 2

// copiedBuf returns an empty buffer from copiedPool for the PDU whose
// first bytes r holds buffered, or nil. It never allocates, and takes a
// buffer only if its capacity is at most what grow.ReadFull would
// allocate for what arrived (2.5 × arrived, at least grow.First), so
// that what a PDU costs follows its bytes even when its buffer is
// reused.
func (r *Reader) copiedBuf() []byte {
	p, _ := copiedPool.Get().(*[]byte)
	switch {
	case p == nil:
		return nil
	case cap(*p) > max(grow.First, r.r.Buffered()*5/2):
		copiedPool.Put(p)
		return nil
	}
	r.held = p
	return (*p)[:0]
}

// ErrDataDigest is returned by Reader.Next, together with the whole PDU,
// when the PDU's data digest does not match its data. The header was
// sound (and its digest, if any, matched), so the stream is still in step:
// a data digest error concerns one command's data, not the connection
// (NVMe/TCP 7.4.6.1), and has no fatal error status of its own. The
// receiver fails the command the data belongs to and reads on; the Data of
// such a PDU must not be used.
var ErrDataDigest = errors.New("nvme/tcp: data digest mismatch")

// ICReq holds the fields of an Initialize Connection Request.
type ICReq struct {
	PFV     uint16 // PDU format version, 0
	HPDA    uint8  // host PDU data alignment, 0's based dwords
	Digests uint8  // DigestHeader | DigestData
	MaxR2T  uint32 // maximum outstanding R2Ts per command, 0's based
}

// AppendICReq appends the 128-byte ICReq PDU for r to b.
func AppendICReq(b []byte, r ICReq) []byte {
	b = appendHeader(b, TypeICReq, 0, ICLen, 0, ICLen)
	b = binary.LittleEndian.AppendUint16(b, r.PFV)
	b = append(b, r.HPDA, r.Digests)
	b = binary.LittleEndian.AppendUint32(b, r.MaxR2T)
	return append(b, make([]byte, ICLen-16)...)
}

// ParseICReq decodes the type-specific part of an ICReq PDU.
func ParseICReq(p PDU) (ICReq, error) {
	if p.Type != TypeICReq || len(p.Specific) < 8 {
		return ICReq{}, protoErr(FESSequence, 0, "expected ICReq, got PDU type %#x", uint8(p.Type))
	}
	s := p.Specific
	return ICReq{PFV: binary.LittleEndian.Uint16(s), HPDA: s[2], Digests: s[3], MaxR2T: binary.LittleEndian.Uint32(s[4:])}, nil
}

// AppendICResp appends the 128-byte ICResp PDU for r to b.
func AppendICResp(b []byte, r ICResp) []byte {
	b = appendHeader(b, TypeICResp, 0, ICLen, 0, ICLen)
	b = binary.LittleEndian.AppendUint16(b, r.PFV)
	b = append(b, r.CPDA, r.Digests)
	b = binary.LittleEndian.AppendUint32(b, r.MaxH2CData)
	return append(b, make([]byte, ICLen-16)...)
}

// ICResp holds the fields of an Initialize Connection Response.
type ICResp struct {
	PFV        uint16
	CPDA       uint8
	Digests    uint8
	MaxH2CData uint32 // largest H2CData PDU data the controller accepts
}

// ParseICResp decodes the type-specific part of an ICResp PDU.
func ParseICResp(p PDU) (ICResp, error) {
	if p.Type != TypeICResp || len(p.Specific) < 8 {
		return ICResp{}, protoErr(FESSequence, 0, "expected ICResp, got PDU type %#x", uint8(p.Type))
	}
	s := p.Specific
	return ICResp{PFV: binary.LittleEndian.Uint16(s), CPDA: s[2], Digests: s[3], MaxH2CData: binary.LittleEndian.Uint32(s[4:])}, nil
}

// AppendTermReq appends a TermReq PDU of type t (TypeH2CTermReq or
// TypeC2HTermReq) for fes and offset, quoting up to 128 bytes of the
// offending PDU header.
func AppendTermReq(b []byte, t PDUType, fes FES, offset uint32, offending []byte) []byte {
	offending = offending[:min(len(offending), 128)]
	b = appendHeader(b, t, 0, TermReqHLen, 0, TermReqHLen+len(offending))
	b = binary.LittleEndian.AppendUint16(b, uint16(fes))
	b = binary.LittleEndian.AppendUint32(b, offset) // FEIL, FEIU
	b = append(b, make([]byte, 10)...)
	return append(b, offending...)
}

// ParseTermReq decodes a TermReq PDU into the error it reports.
func ParseTermReq(p PDU) *TermError {
	e := &TermError{Remote: true}
	if len(p.Specific) >= 6 {
		e.FES = FES(binary.LittleEndian.Uint16(p.Specific))
		e.Offset = binary.LittleEndian.Uint32(p.Specific[2:])
	}
	return e
}

// DataHeader holds the fields of H2CData, C2HData and R2T PDUs.
type DataHeader struct {
	CID    uint16
	TTag   uint16 // transfer tag (H2CData, R2T)
	Offset uint32
	Length uint32
}

// ParseDataHeader decodes the type-specific header of a data or R2T PDU.
func ParseDataHeader(p PDU) DataHeader {
	s := p.Specific
	le := binary.LittleEndian
	return DataHeader{CID: le.Uint16(s), TTag: le.Uint16(s[2:]), Offset: le.Uint32(s[4:]), Length: le.Uint32(s[8:])}
}
