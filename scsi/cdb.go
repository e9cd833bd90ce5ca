// Package scsi is the asynchronous SCSI host scan of Linux's scsi_scan.c,
// on a completion chain: hosts are scanned concurrently, yet their devices
// are added, and named sda, sdb, …, in the order the hosts were
// registered, and WaitScans is the chain's Flush
// (scsi_complete_async_scans).
//
// The scan speaks real SCSI: it encodes SPC/SBC command descriptor blocks
// (REPORT LUNS, INQUIRY with VPD pages 80h and 83h, READ CAPACITY(16), TEST
// UNIT READY) and decodes the responses and fixed-format sense data, with
// length checks. A host is any Transport: an emulated Host, like Linux's
// scsi_debug (channels, targets and LUNs answering real CDBs with real
// response bytes after a per-command latency, with faults to inject), or
// an iSCSI session (package iscsi, which also serves emulated Hosts over
// TCP).
package scsi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/complchain/complchain/internal/ascii"
)

// Operation codes.
const (
	OpTestUnitReady  = 0x00
	OpInquiry        = 0x12
	OpServiceIn16    = 0x9e // READ CAPACITY(16) is service action 10h
	OpReportLUNs     = 0xa0
	saReadCapacity16 = 0x10
)

// Status bytes.
const (
	StatusGood           = 0x00
	StatusCheckCondition = 0x02
)

// Peripheral device types.
const (
	TypeDisk      = 0x00
	TypeTape      = 0x01
	TypeCDROM     = 0x05
	TypeEnclosure = 0x0d
	TypeNoLUN     = 0x1f // with qualifier 3: no device at this LUN
)

// ErrShort is wrapped by errors for responses shorter than their format.
var ErrShort = errors.New("scsi: response too short")

// TestUnitReadyCDB returns a TEST UNIT READY CDB.
func TestUnitReadyCDB() []byte { return make([]byte, 6) }

// InquiryCDB returns an INQUIRY CDB: standard data when evpd is false, VPD
// page page otherwise, with allocation length alloc.
func InquiryCDB(evpd bool, page uint8, alloc uint16) []byte {
	c := make([]byte, 6)
	c[0] = OpInquiry
	if evpd {
		c[1] = 1
		c[2] = page
	}
	binary.BigEndian.PutUint16(c[3:], alloc)
	return c
}

// ReportLUNsCDB returns a REPORT LUNS CDB with allocation length alloc.
func ReportLUNsCDB(alloc uint32) []byte {
	c := make([]byte, 12)
	c[0] = OpReportLUNs
	binary.BigEndian.PutUint32(c[6:], alloc)
	return c
}

// ReadCapacity16CDB returns a READ CAPACITY(16) CDB.
func ReadCapacity16CDB(alloc uint32) []byte {
	c := make([]byte, 16)
	c[0], c[1] = OpServiceIn16, saReadCapacity16
	binary.BigEndian.PutUint32(c[10:], alloc)
	return c
}

// EncodeLUN returns the 8-byte LUN structure of lun: peripheral device
// addressing below 256, flat space addressing up to 16383.
func EncodeLUN(lun uint16) [8]byte {
	var b [8]byte
	if lun < 256 {
		b[1] = byte(lun)
	} else {
		b[0], b[1] = 0x40|byte(lun>>8&0x3f), byte(lun)
	}
	return b
}

// DecodeLUN decodes an 8-byte LUN structure of the peripheral device or
// flat space addressing methods.
func DecodeLUN(b []byte) (uint16, error) {
	if len(b) < 8 {
		return 0, fmt.Errorf("%w: LUN needs 8 bytes, have %d", ErrShort, len(b))
	}
	switch b[0] >> 6 {
	case 0:
		return uint16(b[1]), nil
	case 1:
		return uint16(b[0]&0x3f)<<8 | uint16(b[1]), nil
	}
	return 0, fmt.Errorf("scsi: LUN address method %d not supported", b[0]>>6)
}

// MaxLUNs is the number of LUNs a REPORT LUNS list can name with the
// addressing methods this package decodes (flat space: 0-16383), and so
// the most a scan asks for.
const MaxLUNs = 16384

// ParseReportLUNs decodes REPORT LUNS parameter data: a 4-byte list length,
// 4 reserved bytes, then 8 bytes a LUN. Only a header shorter than 8 bytes
// makes the whole list unusable (nil LUNs). Oddities of single entries
// drop those entries, as Linux's scsi_report_lun_scan does, and are
// reported in the error returned beside the LUNs that remain: an entry
// whose addressing method is not peripheral or flat space (well-known
// LUNs, extended addressing), a LUN listed twice, entries beyond the
// data received (the list was longer than the allocation length or the
// transfer was short), a list length that is not a multiple of 8.
func ParseReportLUNs(b []byte) ([]uint16, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: REPORT LUNS header needs 8 bytes, have %d", ErrShort, len(b))
	}
	var errs []error
	n := uint64(binary.BigEndian.Uint32(b))
	if n%8 != 0 {
		errs = append(errs, fmt.Errorf("scsi: REPORT LUNS list length %d is not a multiple of 8; %d trailing bytes ignored", n, n%8))
	}
	if got := uint64(len(b) - 8); n > got {
		errs = append(errs, fmt.Errorf("%w: REPORT LUNS lists %d bytes, %d received; %d LUNs dropped", ErrShort, n, got, n/8-got/8))
		n = got
	}
	luns := make([]uint16, 0, n/8)
	var seen map[uint16]bool
	for off := 8; off+8 <= 8+int(n); off += 8 {
		lun, err := DecodeLUN(b[off:])
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %d (% x): %w", off/8-1, b[off:off+8], err))
			continue
		}
		if seen == nil {
			seen = make(map[uint16]bool, n/8)
		}
		if seen[lun] {
			errs = append(errs, fmt.Errorf("scsi: entry %d: LUN %d listed twice", off/8-1, lun))
			continue
		}
		seen[lun] = true
		luns = append(luns, lun)
	}
	return luns, errors.Join(errs...)
}

// AppendReportLUNs appends REPORT LUNS parameter data listing luns.
func AppendReportLUNs(b []byte, luns []uint16) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(8*len(luns)))
	b = append(b, 0, 0, 0, 0)
	for _, l := range luns {
		e := EncodeLUN(l)
		b = append(b, e[:]...)
	}
	return b
}

// Peripheral qualifiers (SPC-5, standard INQUIRY data byte 0 bits 7:5).
const (
	QualifierConnected    = 0 // a device of the type is (or may be) connected
	QualifierNotConnected = 1 // not connected, though the LU could hold one
	QualifierNoLUN        = 3 // the device server cannot support a device at this LU
)

// Inquiry is standard INQUIRY data.
type Inquiry struct {
	Qualifier uint8 // peripheral qualifier: 0 connected, 1 not connected, 3 no LU
	Type      uint8 // peripheral device type
	Removable bool
	Version   uint8
	Vendor    string // T10 vendor identification, 8 bytes
	Product   string // 16 bytes
	Revision  string // 4 bytes
}

// InquiryLen is the length of standard INQUIRY data this package sends.
const InquiryLen = 36

// AppendInquiry appends the 36-byte standard INQUIRY data for q.
func AppendInquiry(b []byte, q Inquiry) []byte {
	start := len(b)
	b = append(b, make([]byte, InquiryLen)...)
	p := b[start:]
	p[0] = q.Qualifier<<5 | q.Type&0x1f
	if q.Removable {
		p[1] = 0x80
	}
	p[2], p[3], p[4] = q.Version, 2, InquiryLen-5
	ascii.Pad(p[8:16], q.Vendor)
	ascii.Pad(p[16:32], q.Product)
	ascii.Pad(p[32:36], q.Revision)
	return b
}

// ParseInquiry decodes standard INQUIRY data.
func ParseInquiry(b []byte) (Inquiry, error) {
	if len(b) < InquiryLen {
		return Inquiry{}, fmt.Errorf("%w: INQUIRY data needs %d bytes, have %d", ErrShort, InquiryLen, len(b))
	}
	if int(b[4])+5 < InquiryLen {
		return Inquiry{}, fmt.Errorf("scsi: INQUIRY additional length %d too small", b[4])
	}
	return Inquiry{
		Qualifier: b[0] >> 5, Type: b[0] & 0x1f, Removable: b[1]&0x80 != 0, Version: b[2],
		Vendor: ascii.Trim(b[8:16]), Product: ascii.Trim(b[16:32]), Revision: ascii.Trim(b[32:36]),
	}, nil
}

// NoLUN reports whether q says there is no logical unit, so that the LUN
// is skipped without error, as Linux's scsi_probe_and_add_lun does:
// peripheral qualifier 011b with any device type, or device type 1Fh
// ("unknown or no device type") with qualifier 001b, or with any
// qualifier when pdt1FNoLUN is set (Linux's pdt_1f_for_no_lun, for USB
// UFI devices whose qualifier bits are reserved). The LUNs of this package
// are never well-known LUNs, which Linux keeps.
func (q Inquiry) NoLUN(pdt1FNoLUN bool) bool {
	return q.Qualifier == QualifierNoLUN ||
		q.Type == TypeNoLUN && (q.Qualifier == QualifierNotConnected || pdt1FNoLUN)
}

// AppendSerialVPD appends VPD page 80h (unit serial number).
func AppendSerialVPD(b []byte, devType uint8, serial string) []byte {
	b = append(b, devType, 0x80, 0, byte(len(serial)))
	return append(b, serial...)
}

// ParseSerialVPD decodes VPD page 80h.
func ParseSerialVPD(b []byte) (string, error) {
	if len(b) < 4 || b[1] != 0x80 {
		return "", fmt.Errorf("%w: not a unit serial number page", ErrShort)
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if 4+n > len(b) {
		return "", fmt.Errorf("%w: serial number page of %d bytes, %d received", ErrShort, n, len(b)-4)
	}
	return ascii.Trim(b[4 : 4+n]), nil
}

// AppendDeviceIDVPD appends VPD page 83h with one NAA designator.
func AppendDeviceIDVPD(b []byte, devType uint8, naa [8]byte) []byte {
	b = append(b, devType, 0x83, 0, 12)
	b = append(b, 0x01, 0x03, 0x00, 8) // binary, LU association, NAA, 8 bytes
	return append(b, naa[:]...)
}

// ParseDeviceIDVPD decodes VPD page 83h and returns the first NAA
// designator, or false if there is none.
func ParseDeviceIDVPD(b []byte) ([]byte, bool, error) {
	if len(b) < 4 || b[1] != 0x83 {
		return nil, false, fmt.Errorf("%w: not a device identification page", ErrShort)
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if 4+n > len(b) {
		return nil, false, fmt.Errorf("%w: device identification page of %d bytes, %d received", ErrShort, n, len(b)-4)
	}
	d := b[4 : 4+n]
	for len(d) >= 4 {
		l := int(d[3])
		if 4+l > len(d) {
			return nil, false, fmt.Errorf("%w: designator of %d bytes, %d left", ErrShort, l, len(d)-4)
		}
		if d[1]&0x0f == 3 {
			return d[4 : 4+l], true, nil
		}
		d = d[4+l:]
	}
	return nil, false, nil
}

// Capacity is READ CAPACITY(16) data.
type Capacity struct {
	LastLBA   uint64
	BlockSize uint32
}

// Block sizes a disk may have, as Linux's block layer takes them: a power
// of two from 512 bytes to 64 KiB (BLK_MAX_BLOCK_SIZE).
const (
	MinBlockSize = 512
	MaxBlockSize = 64 << 10
)

// Bytes returns the capacity in bytes, for a Capacity ParseCapacity16
// accepted.
func (c Capacity) Bytes() uint64 { return (c.LastLBA + 1) * uint64(c.BlockSize) }

// AppendCapacity16 appends 32 bytes of READ CAPACITY(16) data.
func AppendCapacity16(b []byte, c Capacity) []byte {
	b = binary.BigEndian.AppendUint64(b, c.LastLBA)
	b = binary.BigEndian.AppendUint32(b, c.BlockSize)
	return append(b, make([]byte, 20)...)
}

// ParseCapacity16 decodes READ CAPACITY(16) data. A block size that is
// not a power of two from MinBlockSize to MaxBlockSize, or a capacity that
// does not fit 2^64 bytes, is a *FieldError.
func ParseCapacity16(b []byte) (Capacity, error) {
	if len(b) < 12 {
		return Capacity{}, fmt.Errorf("%w: READ CAPACITY(16) data needs 12 bytes, have %d", ErrShort, len(b))
	}
	c := Capacity{LastLBA: binary.BigEndian.Uint64(b), BlockSize: binary.BigEndian.Uint32(b[8:])}
	if bs := c.BlockSize; bs < MinBlockSize || bs > MaxBlockSize || bs&(bs-1) != 0 {
		return c, &FieldError{Field: "LOGICAL BLOCK LENGTH IN BYTES", Value: uint64(bs), Reason: "not a power of two from 512 bytes to 64 KiB"}
	}
	if c.LastLBA >= math.MaxUint64/uint64(c.BlockSize) {
		return c, &FieldError{Field: "RETURNED LOGICAL BLOCK ADDRESS", Value: c.LastLBA, Reason: fmt.Sprintf("capacity in %d-byte blocks overflows 64 bits", c.BlockSize)}
	}
	return c, nil
}

// A FieldError is a field of a response holding a value SPC or SBC does
// not allow, or that a host cannot use. Match it with errors.As.
type FieldError struct {
	Field  string // the standard's name
	Value  uint64
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("scsi: %s %#x: %s", e.Field, e.Value, e.Reason)
}

// Sense keys.
const (
	SenseNotReady       = 0x2
	SenseMediumError    = 0x3
	SenseHardwareError  = 0x4
	SenseIllegalRequest = 0x5
)

// SenseError is a CHECK CONDITION's fixed-format sense data.
type SenseError struct {
	Key, ASC, ASCQ uint8
}

var senseKeys = map[uint8]string{0x2: "NOT READY", 0x3: "MEDIUM ERROR", 0x4: "HARDWARE ERROR", 0x5: "ILLEGAL REQUEST", 0x6: "UNIT ATTENTION"}

func (e *SenseError) Error() string {
	k, ok := senseKeys[e.Key]
	if !ok {
		k = fmt.Sprintf("sense key %#x", e.Key)
	}
	return fmt.Sprintf("CHECK CONDITION: %s, ASC/ASCQ %02xh/%02xh", k, e.ASC, e.ASCQ)
}

// AppendSense appends 18 bytes of fixed-format sense data for e.
func AppendSense(b []byte, e SenseError) []byte {
	start := len(b)
	b = append(b, make([]byte, 18)...)
	p := b[start:]
	p[0], p[2], p[7], p[12], p[13] = 0x70, e.Key&0xf, 10, e.ASC, e.ASCQ
	return b
}

// ParseSense decodes fixed-format sense data (response code 70h or 71h).
func ParseSense(b []byte) (*SenseError, error) {
	if len(b) < 14 {
		return nil, fmt.Errorf("%w: fixed sense data needs 14 bytes, have %d", ErrShort, len(b))
	}
	if rc := b[0] & 0x7f; rc != 0x70 && rc != 0x71 {
		return nil, fmt.Errorf("scsi: sense response code %#x is not fixed format", rc)
	}
	return &SenseError{Key: b[2] & 0xf, ASC: b[12], ASCQ: b[13]}, nil
}

// DataInLength returns the allocation length of cdb — the most data-in
// the command can return — for the commands of a scan (INQUIRY, REPORT
// LUNS, READ CAPACITY(16)), and 0 for others and for CDBs too short to
// hold it.
func DataInLength(cdb []byte) int {
	field := func(off, n int) int {
		if len(cdb) < off+n {
			return 0
		}
		v := 0
		for _, b := range cdb[off : off+n] {
			v = v<<8 | int(b)
		}
		return v
	}
	if len(cdb) == 0 {
		return 0
	}
	switch cdb[0] {
	case OpInquiry:
		return field(3, 2)
	case OpReportLUNs:
		return field(6, 4)
	case OpServiceIn16:
		return field(10, 4)
	}
	return 0
}
