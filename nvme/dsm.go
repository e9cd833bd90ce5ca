package nvme

import (
	"encoding/binary"
	"fmt"
)

// Bits of Identify Controller ONCS (optional NVM commands supported) and
// Identify Namespace DLFEAT (deallocate logical block features), NVMe Base
// Specification 5.1.13.2.1 and NVM Command Set Specification 4.1.5.1.
const (
	ONCSDatasetManagement = 1 << 2 // Dataset Management (09h)
	ONCSWriteZeroes       = 1 << 3 // Write Zeroes (08h)

	DLFEATZeroes                = 1      // bits 2:0 = 001b: deallocated blocks read as zeros
	DLFEATWriteZeroesDeallocate = 1 << 3 // Write Zeroes honours DEAC
)

// Command bits of Write Zeroes and Dataset Management (NVM Command Set
// Specification 3.3.7 and 3.3.3).
const (
	WriteZeroesDEAC = 1 << 25 // CDW12: deallocate the blocks
	DSMDeallocate   = 1 << 2  // CDW11 AD: deallocate the ranges
	MaxDSMRanges    = 256     // CDW10 NR is an 8-bit 0's based count
	DSMRangeSize    = 16      // bytes per range in the command's data
)

// DSMRange is one range of a Dataset Management command (NVM Command Set
// Specification, Figure "Dataset Management – Range Definition"): Length
// logical blocks from SLBA; a Length of 0 names no block.
type DSMRange struct {
	Attributes uint32 // context attributes, bytes 0-3
	Length     uint32 // bytes 4-7, in logical blocks (not 0's based)
	SLBA       uint64 // bytes 8-15
}

// AppendDSMRanges appends the 16-byte encoding of each range to b.
func AppendDSMRanges(b []byte, rs ...DSMRange) []byte {
	le := binary.LittleEndian
	for _, r := range rs {
		b = le.AppendUint32(b, r.Attributes)
		b = le.AppendUint32(b, r.Length)
		b = le.AppendUint64(b, r.SLBA)
	}
	return b
}

// DSMRanges decodes the n ranges of a Dataset Management command from its
// data p, which must hold exactly n × 16 bytes; n is 1..256 (CDW10 NR + 1).
// It returns an error wrapping ErrShortBuffer for data of another length.
func DSMRanges(p []byte, n int) ([]DSMRange, error) {
	if n < 1 || n > MaxDSMRanges || len(p) != n*DSMRangeSize {
		return nil, fmt.Errorf("%w: %d bytes of Dataset Management data for %d ranges", ErrShortBuffer, len(p), n)
	}
	le := binary.LittleEndian
	rs := make([]DSMRange, n)
	for i := range rs {
		q := p[i*DSMRangeSize:]
		rs[i] = DSMRange{Attributes: le.Uint32(q), Length: le.Uint32(q[4:]), SLBA: le.Uint64(q[8:])}
	}
	return rs, nil
}
