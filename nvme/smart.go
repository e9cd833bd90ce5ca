package nvme

import (
	"encoding/binary"
	"fmt"
	"math"
)

// SMARTLogSize is the size in bytes of the SMART / Health Information log
// page (LogSMART, 02h).
const SMARTLogSize = 512

// SMARTLog holds the fields of the SMART / Health Information log page
// (NVMe Base Specification, log identifier 02h) that hosts and the
// target use. The counters are 128-bit fields on the wire: AppendBinary
// writes their upper 64 bits as zero, and UnmarshalBinary reads a value
// beyond 2^64-1 as math.MaxUint64.
type SMARTLog struct {
	CriticalWarning  uint8  // byte 0
	Temperature      uint16 // bytes 1-2: composite temperature, Kelvin
	AvailableSpare   uint8  // byte 3: percent
	SpareThreshold   uint8  // byte 4: available spare threshold, percent
	PercentageUsed   uint8  // byte 5
	DataUnitsRead    uint64 // bytes 32-47: thousands of 512-byte units, rounded up
	DataUnitsWritten uint64 // bytes 48-63: thousands of 512-byte units, rounded up
	HostReads        uint64 // bytes 64-79: Host Read Commands
	HostWrites       uint64 // bytes 80-95: Host Write Commands
	BusyTime         uint64 // bytes 96-111: Controller Busy Time, minutes
	PowerCycles      uint64 // bytes 112-127
	PowerOnHours     uint64 // bytes 128-143
	UnsafeShutdowns  uint64 // bytes 144-159
	MediaErrors      uint64 // bytes 160-175
	ErrorLogEntries  uint64 // bytes 176-191: Number of Error Information Log Entries
}

// counters are the 128-bit fields of s in log order, from byte 32.
func (s *SMARTLog) counters() [10]*uint64 {
	return [...]*uint64{&s.DataUnitsRead, &s.DataUnitsWritten, &s.HostReads, &s.HostWrites, &s.BusyTime,
		&s.PowerCycles, &s.PowerOnHours, &s.UnsafeShutdowns, &s.MediaErrors, &s.ErrorLogEntries}
}

// AppendBinary appends the 512-byte encoding of s to b.
func (s *SMARTLog) AppendBinary(b []byte) ([]byte, error) {
	b, p := grow(b, SMARTLogSize)
	le := binary.LittleEndian
	p[0] = s.CriticalWarning
	le.PutUint16(p[1:], s.Temperature)
	p[3], p[4], p[5] = s.AvailableSpare, s.SpareThreshold, s.PercentageUsed
	for i, c := range s.counters() {
		le.PutUint64(p[32+16*i:], *c)
	}
	return b, nil
}

// UnmarshalBinary decodes a SMART / Health Information log page.
func (s *SMARTLog) UnmarshalBinary(p []byte) error {
	if len(p) < SMARTLogSize {
		return fmt.Errorf("%w: SMART / Health Information log needs %d bytes, have %d", ErrShortBuffer, SMARTLogSize, len(p))
	}
	le := binary.LittleEndian
	*s = SMARTLog{
		CriticalWarning: p[0], Temperature: le.Uint16(p[1:]),
		AvailableSpare: p[3], SpareThreshold: p[4], PercentageUsed: p[5],
	}
	for i, c := range s.counters() {
		f := p[32+16*i:]
		*c = le.Uint64(f)
		if le.Uint64(f[8:]) != 0 {
			*c = math.MaxUint64
		}
	}
	return nil
}
