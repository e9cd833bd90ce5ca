// Package crc32c is the CRC-32C (Castagnoli) digest that iSCSI (RFC 7143
// §13.1, HeaderDigest and DataDigest) and NVMe/TCP (header and data
// digests) put on the wire: hash/crc32 with its Castagnoli table, which
// uses the CPU's CRC32 instruction where there is one. Both protocols
// store it least significant byte first.
package crc32c

import "hash/crc32"

var table = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC-32C of b.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, table) }

// Update returns the CRC-32C of the bytes crc is the digest of,
// followed by b: Update(Checksum(a), b) is Checksum of a then b, and
// Update(0, b) is Checksum(b).
func Update(crc uint32, b []byte) uint32 { return crc32.Update(crc, table, b) }
