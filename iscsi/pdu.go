package iscsi

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/complchain/complchain/internal/crc32c"
	"github.com/complchain/complchain/internal/grow"
)

// BHSLen is the length of the Basic Header Segment (RFC 7143 §11.2.1).
const BHSLen = 48

// Data segment lengths (RFC 7143 §13.12): MaxRecvDataSegmentLength is
// declared from MinDataSegment to MaxDataSegment bytes; until it is,
// DefaultDataSegment applies, also to every login PDU.
const (
	MinDataSegment     = 512
	DefaultDataSegment = 8192
	MaxDataSegment     = 1<<24 - 1
)

const digestLen = 4

// BHS is a Basic Header Segment: 48 bytes, big-endian fields (RFC 7143
// §11.2.1). The accessors name the fields of the bytes they read; which
// apply depends on the opcode.
type BHS [BHSLen]byte

// Opcode returns byte 0, bits 0-5.
func (h *BHS) Opcode() Opcode { return Opcode(h[0] & 0x3f) }

// Immediate reports the I bit (byte 0, bit 6): immediate delivery.
func (h *BHS) Immediate() bool { return h[0]&flagImm != 0 }

// SetOpcode sets byte 0: the opcode and the I bit.
func (h *BHS) SetOpcode(o Opcode, immediate bool) {
	h[0] = byte(o) & 0x3f
	if immediate {
		h[0] |= flagImm
	}
}

// Flags returns byte 1 (F, C, T, R, W, S, … by opcode).
func (h *BHS) Flags() byte { return h[1] }

// TotalAHSLength returns byte 4: the length of the additional header
// segments in 4-byte words.
func (h *BHS) TotalAHSLength() int { return int(h[4]) }

// DataSegmentLength returns bytes 5-7: the data segment's length in
// bytes, without padding.
func (h *BHS) DataSegmentLength() int { return int(h[5])<<16 | int(h[6])<<8 | int(h[7]) }

func (h *BHS) setLengths(ahs, data int) {
	h[4] = byte(ahs / 4)
	h[5], h[6], h[7] = byte(data>>16), byte(data>>8), byte(data)
}

// LUN returns bytes 8-15, the SAM LUN structure.
func (h *BHS) LUN() [8]byte { return [8]byte(h[8:16]) }

// SetLUN sets bytes 8-15.
func (h *BHS) SetLUN(l [8]byte) { copy(h[8:16], l[:]) }

// ITT returns bytes 16-19: the Initiator Task Tag.
func (h *BHS) ITT() uint32 { return h.U32(16) }

// U32 returns the big-endian 32-bit field at byte off (a multiple of 4
// below 48): 20 TTT or Expected Data Transfer Length, 24 CmdSN or StatSN,
// 28 ExpStatSN or ExpCmdSN, 32 MaxCmdSN, 36 DataSN, R2TSN or ExpDataSN,
// 40 Buffer Offset, 44 Residual Count or Desired Data Transfer Length.
func (h *BHS) U32(off int) uint32 { return binary.BigEndian.Uint32(h[off:]) }

// PutU32 sets the 32-bit field at byte off.
func (h *BHS) PutU32(off int, v uint32) { binary.BigEndian.PutUint32(h[off:], v) }

// Offsets of 32-bit BHS fields, named as in RFC 7143 §11.
const (
	offITT       = 16
	offTTT       = 20 // also Expected Data Transfer Length, SNACK Tag
	offCmdSN     = 24 // StatSN in target PDUs
	offExpStatSN = 28 // ExpCmdSN in target PDUs
	offMaxCmdSN  = 32
	offDataSN    = 36 // R2TSN, ExpDataSN, AsyncEvent
	offOffset    = 40 // Buffer Offset
	offResidual  = 44 // Residual Count, Desired Data Transfer Length
)

// A PDU is one iSCSI protocol data unit (RFC 7143 §11.2): its header,
// additional header segments and data segment, without padding or
// digests.
type PDU struct {
	BHS  BHS
	AHS  []byte // TotalAHSLength × 4 bytes
	Data []byte
}

// Limits bound what ReadPDU accepts, and say which digests a connection
// negotiated (RFC 7143 §13.1).
type Limits struct {
	// MaxRecvDataSegmentLength is the longest data segment accepted:
	// what this side declared. 0 means DefaultDataSegment; at most
	// MaxDataSegment.
	MaxRecvDataSegmentLength int
	HeaderDigest             bool // CRC32C after the header segments
	DataDigest               bool // CRC32C after the padded data segment
}

func (l Limits) maxData() int {
	if l.MaxRecvDataSegmentLength <= 0 {
		return DefaultDataSegment
	}
	return min(l.MaxRecvDataSegmentLength, MaxDataSegment)
}

func pad4(n int) int { return -n & 3 }

// AppendPDU appends the wire form of p to b: header, AHS, header digest,
// data padded to 4 bytes, data digest. It sets TotalAHSLength and
// DataSegmentLength from p.AHS and p.Data; len(p.AHS) must be a multiple
// of 4 up to 1020 and len(p.Data) at most MaxDataSegment.
func AppendPDU(b []byte, p *PDU, l Limits) []byte {
	if len(p.AHS)%4 != 0 || len(p.AHS) > 255*4 || len(p.Data) > MaxDataSegment {
		panic(fmt.Sprintf("iscsi: PDU with %d bytes of AHS and %d of data", len(p.AHS), len(p.Data)))
	}
	p.BHS.setLengths(len(p.AHS), len(p.Data))
	start := len(b)
	b = append(b, p.BHS[:]...)
	b = append(b, p.AHS...)
	if l.HeaderDigest {
		b = binary.LittleEndian.AppendUint32(b, crc32c.Checksum(b[start:]))
	}
	if len(p.Data) == 0 {
		return b
	}
	ds := len(b)
	b = append(b, p.Data...)
	b = append(b, make([]byte, pad4(len(p.Data)))...)
	if l.DataDigest {
		b = binary.LittleEndian.AppendUint32(b, crc32c.Checksum(b[ds:]))
	}
	return b
}

// ReadPDU reads one PDU from r. A data segment longer than
// l.MaxRecvDataSegmentLength is a *ProtocolError and is not read; an
// opcode RFC 7143 does not define is a *ProtocolError after the PDU was
// read; a digest that does not match is a *DigestError (with a data
// digest error, the PDU is returned too, so that the caller can reject
// it). Any other error is the reader's (io.ErrUnexpectedEOF for a PDU cut
// short). Memory is bounded by the limits, 48 + 1020 + MaxRecv bytes,
// and follows the bytes received: the data segment's buffer grows as
// its bytes arrive (package grow), so that a peer that sends a header
// announcing a long segment and nothing more makes ReadPDU hold a few
// KiB, not MaxRecvDataSegmentLength.
func ReadPDU(r io.Reader, l Limits) (*PDU, error) {
	p := new(PDU)
	if _, err := io.ReadFull(r, p.BHS[:]); err != nil {
		return nil, err
	}
	op := p.BHS.Opcode()
	n := p.BHS.DataSegmentLength()
	if max := l.maxData(); n > max {
		return nil, &ProtocolError{Op: op, Reason: fmt.Sprintf("DataSegmentLength %d above MaxRecvDataSegmentLength %d", n, max)}
	}
	if ahs := p.BHS.TotalAHSLength() * 4; ahs > 0 {
		p.AHS = make([]byte, ahs)
		if _, err := io.ReadFull(r, p.AHS); err != nil {
			return nil, unexpected(err)
		}
	}
	if l.HeaderDigest {
		var d [digestLen]byte
		if _, err := io.ReadFull(r, d[:]); err != nil {
			return nil, unexpected(err)
		}
		if got, want := binary.LittleEndian.Uint32(d[:]), crc32c.Update(crc32c.Checksum(p.BHS[:]), p.AHS); got != want {
			return nil, &DigestError{Op: op, Header: true, Got: got, Want: want}
		}
	}
	if n > 0 {
		tail := pad4(n)
		if l.DataDigest {
			tail += digestLen
		}
		buf, err := grow.ReadFull(r, nil, n+tail)
		if err != nil {
			return nil, unexpected(err)
		}
		p.Data = buf[:n:n]
		if l.DataDigest {
			body := buf[:n+pad4(n)]
			if got, want := binary.LittleEndian.Uint32(buf[len(body):]), crc32c.Checksum(body); got != want {
				return p, &DigestError{Op: op, Got: got, Want: want}
			}
		}
	}
	if _, ok := opNames[op]; !ok {
		return p, &ProtocolError{Op: op, Reason: "opcode not defined by RFC 7143"}
	}
	return p, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
