package crc32c

import (
	"bytes"
	"testing"
)

// The CRC32C test vectors of RFC 3720 Appendix B.4 (iSCSI), which the
// NVMe/TCP digest shares, and a split of each in two for Update.
func TestChecksum(t *testing.T) {
	inc, dec := make([]byte, 32), make([]byte, 32)
	for i := range 32 {
		inc[i], dec[i] = byte(i), byte(31-i)
	}
	tests := []struct {
		name string
		data []byte
		want uint32
	}{
		{"32 bytes of zeros", make([]byte, 32), 0x8a9136aa},
		{"32 bytes of ones", bytes.Repeat([]byte{0xff}, 32), 0x62a8ab43},
		{"incrementing", inc, 0x46dd794e},
		{"decrementing", dec, 0x113fdb5c},
		{"empty", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Checksum(tt.data); got != tt.want {
				t.Errorf("Checksum = %#08x, want %#08x", got, tt.want)
			}
			for cut := range len(tt.data) {
				if got := Update(Update(0, tt.data[:cut]), tt.data[cut:]); got != tt.want {
					t.Fatalf("Update in two at %d = %#08x, want %#08x", cut, got, tt.want)
				}
			}
		})
	}
}

// BenchmarkChecksum4K is the digest of one 4 KiB data PDU.
func BenchmarkChecksum4K(b *testing.B) {
	data := make([]byte, 4096)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Checksum(data)
	}
}
