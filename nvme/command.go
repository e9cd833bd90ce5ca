// Package nvme holds the NVM Express data structures that cross the wire:
// submission and completion queue entries, status codes, Identify data,
// log pages and the fabrics Connect command. It does no I/O.
//
// Multi-byte fields are little-endian, as the NVM Express Base
// Specification defines them. Encoders append to a caller's buffer
// (encoding.BinaryAppender) and decoders check lengths before they read, so
// the hot path allocates nothing.
package nvme

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// CommandSize is the size in bytes of a submission queue entry.
const CommandSize = 64

// CompletionSize is the size in bytes of a completion queue entry.
const CompletionSize = 16

// ErrShortBuffer is returned by decoders given fewer bytes than the
// structure they decode.
var ErrShortBuffer = errors.New("nvme: buffer too short")

// grow appends n zero bytes to b and returns b and those n bytes, for an
// encoder to fill.
func grow(b []byte, n int) (_, field []byte) {
	start := len(b)
	b = append(b, make([]byte, n)...)
	return b, b[start:]
}

// Command is a 64-byte submission queue entry (NVMe Base Specification,
// "Common Command Format"). Fabrics commands (Opcode == OpFabrics) keep
// their command type (FCTYPE) in the low byte of NSID, where the fabrics
// specification places it (byte 4).
type Command struct {
	Opcode Opcode   // byte 0
	Flags  uint8    // byte 1: FUSE (bits 1:0), PSDT (bits 7:6)
	CID    uint16   // bytes 2-3: command identifier
	NSID   uint32   // bytes 4-7
	CDW2   uint32   // bytes 8-11
	CDW3   uint32   // bytes 12-15
	MPTR   uint64   // bytes 16-23: metadata pointer
	DPTR   [16]byte // bytes 24-39: data pointer (SGL descriptor 1 on fabrics)
	CDW10  uint32   // bytes 40-43
	CDW11  uint32   // bytes 44-47
	CDW12  uint32   // bytes 48-51
	CDW13  uint32   // bytes 52-55
	CDW14  uint32   // bytes 56-59
	CDW15  uint32   // bytes 60-63
}

// AppendBinary appends the 64-byte encoding of c to b.
func (c *Command) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(c.Opcode), c.Flags)
	b = binary.LittleEndian.AppendUint16(b, c.CID)
	b = binary.LittleEndian.AppendUint32(b, c.NSID)
	b = binary.LittleEndian.AppendUint32(b, c.CDW2)
	b = binary.LittleEndian.AppendUint32(b, c.CDW3)
	b = binary.LittleEndian.AppendUint64(b, c.MPTR)
	b = append(b, c.DPTR[:]...)
	b = binary.LittleEndian.AppendUint32(b, c.CDW10)
	b = binary.LittleEndian.AppendUint32(b, c.CDW11)
	b = binary.LittleEndian.AppendUint32(b, c.CDW12)
	b = binary.LittleEndian.AppendUint32(b, c.CDW13)
	b = binary.LittleEndian.AppendUint32(b, c.CDW14)
	b = binary.LittleEndian.AppendUint32(b, c.CDW15)
	return b, nil
}

// MarshalBinary returns the 64-byte encoding of c.
func (c *Command) MarshalBinary() ([]byte, error) {
	return c.AppendBinary(make([]byte, 0, CommandSize))
}

// UnmarshalBinary decodes the first 64 bytes of b into c. It returns
// ErrShortBuffer if b is shorter than CommandSize.
func (c *Command) UnmarshalBinary(b []byte) error {
	if len(b) < CommandSize {
		return fmt.Errorf("%w: command needs %d bytes, have %d", ErrShortBuffer, CommandSize, len(b))
	}
	le := binary.LittleEndian
	c.Opcode = Opcode(b[0])
	c.Flags = b[1]
	c.CID = le.Uint16(b[2:])
	c.NSID = le.Uint32(b[4:])
	c.CDW2 = le.Uint32(b[8:])
	c.CDW3 = le.Uint32(b[12:])
	c.MPTR = le.Uint64(b[16:])
	copy(c.DPTR[:], b[24:40])
	c.CDW10 = le.Uint32(b[40:])
	c.CDW11 = le.Uint32(b[44:])
	c.CDW12 = le.Uint32(b[48:])
	c.CDW13 = le.Uint32(b[52:])
	c.CDW14 = le.Uint32(b[56:])
	c.CDW15 = le.Uint32(b[60:])
	return nil
}

// FabricsType returns the fabrics command type (FCTYPE, byte 4) of a
// command whose Opcode is OpFabrics.
func (c *Command) FabricsType() FabricsType { return FabricsType(c.NSID) }

// DataDirection reports which way the command moves data, from bits 1:0 of
// the opcode, or of FCTYPE for fabrics commands (NVMe over Fabrics,
// "Fabrics Command Type"): Property Set, Property Get and Disconnect move
// none, Connect and Authentication Send move data to the controller,
// Authentication Receive from it.
func (c *Command) DataDirection() Direction {
	if c.Opcode == OpFabrics {
		return Direction(c.FabricsType() & 3)
	}
	return Direction(c.Opcode & 3)
}

// Direction is the data transfer direction of a command.
type Direction uint8

// Data transfer directions, as encoded in opcode bits 1:0.
const (
	NoData           Direction = 0
	HostToController Direction = 1
	ControllerToHost Direction = 2
	Bidirectional    Direction = 3
)

// SGL type bytes (descriptor byte 15) used by NVMe over TCP.
const (
	// SGLDataBlockOffset is a Data Block descriptor whose address is an
	// offset into in-capsule data (type 0x0, subtype 0x1).
	SGLDataBlockOffset = 0x01
	// SGLTransportDataBlock is a Transport SGL Data Block descriptor
	// (type 0x5, subtype 0xA): data moves in C2HData or R2T/H2CData PDUs.
	SGLTransportDataBlock = 0x5A
)

// CommandFlagSGL marks a command as using SGLs for its data (PSDT = 01b),
// as every fabrics command must.
const CommandFlagSGL = 0x40

// SGL is a 16-byte scatter gather list descriptor, as placed in DPTR.
type SGL struct {
	Addr   uint64
	Length uint32
	Type   uint8 // descriptor type in bits 7:4, subtype in bits 3:0
}

// SGL returns DPTR decoded as an SGL descriptor.
func (c *Command) SGL() SGL {
	le := binary.LittleEndian
	return SGL{Addr: le.Uint64(c.DPTR[0:]), Length: le.Uint32(c.DPTR[8:]), Type: c.DPTR[15]}
}

// SetSGL encodes s into DPTR and sets CommandFlagSGL.
func (c *Command) SetSGL(s SGL) {
	le := binary.LittleEndian
	c.DPTR = [16]byte{}
	le.PutUint64(c.DPTR[0:], s.Addr)
	le.PutUint32(c.DPTR[8:], s.Length)
	c.DPTR[15] = s.Type
	c.Flags |= CommandFlagSGL
}

// Completion is a 16-byte completion queue entry. Status holds the status
// field without the phase tag.
type Completion struct {
	Result uint64 // dwords 0 and 1: command specific
	SQHead uint16 // submission queue head pointer
	SQID   uint16 // submission queue identifier
	CID    uint16 // command identifier
	Status Status // status field (bits 15:1 of the last word, shifted down)
}

// AppendBinary appends the 16-byte encoding of c to b. The phase tag is
// written as zero, as fabrics transports do.
func (c *Completion) AppendBinary(b []byte) ([]byte, error) {
	b = binary.LittleEndian.AppendUint64(b, c.Result)
	b = binary.LittleEndian.AppendUint16(b, c.SQHead)
	b = binary.LittleEndian.AppendUint16(b, c.SQID)
	b = binary.LittleEndian.AppendUint16(b, c.CID)
	b = binary.LittleEndian.AppendUint16(b, uint16(c.Status)<<1)
	return b, nil
}

// MarshalBinary returns the 16-byte encoding of c.
func (c *Completion) MarshalBinary() ([]byte, error) {
	return c.AppendBinary(make([]byte, 0, CompletionSize))
}

// UnmarshalBinary decodes the first 16 bytes of b into c, dropping the
// phase tag. It returns ErrShortBuffer if b is shorter than CompletionSize.
func (c *Completion) UnmarshalBinary(b []byte) error {
	if len(b) < CompletionSize {
		return fmt.Errorf("%w: completion needs %d bytes, have %d", ErrShortBuffer, CompletionSize, len(b))
	}
	le := binary.LittleEndian
	c.Result = le.Uint64(b[0:])
	c.SQHead = le.Uint16(b[8:])
	c.SQID = le.Uint16(b[10:])
	c.CID = le.Uint16(b[12:])
	c.Status = Status(le.Uint16(b[14:]) >> 1)
	return nil
}
