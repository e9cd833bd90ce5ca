package tcp

import (
	"testing"

	"github.com/complchain/complchain/nvme"
)

// BenchmarkDigests4K writes a C2HData PDU of 4 KiB with header and data
// digests and reads it back: two CRC-32C digests computed, two checked.
func BenchmarkDigests4K(b *testing.B) {
	d := Digests{Header: true, Data: true}
	data := make([]byte, nvme.IdentifySize)
	one := d.AppendData(nil, TypeC2HData, FlagDataLast, DataHeader{CID: 1}, data)
	r := NewReader(&cycle{b: one}, 1<<20)
	r.SetDigests(true, true)
	buf := make([]byte, 0, len(one))
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		buf = d.AppendData(buf[:0], TypeC2HData, FlagDataLast, DataHeader{CID: 1}, data)
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
