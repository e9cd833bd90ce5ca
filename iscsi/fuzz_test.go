package iscsi

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadPDU decodes arbitrary bytes as PDUs, with and without digests:
// no panic, no read beyond the limits, and every PDU read re-encodes to
// the bytes it came from. Seeds: every kind of PDU of a real LIO session
// (testdata/fuzz/FuzzReadPDU, from captures/linux-lio-iscsi-probe-4x4.pcap).
func FuzzReadPDU(f *testing.F) {
	f.Add(AppendPDU(nil, &PDU{Data: []byte("abc")}, Limits{HeaderDigest: true, DataDigest: true}), true)
	f.Fuzz(func(t *testing.T, b []byte, digests bool) {
		l := Limits{MaxRecvDataSegmentLength: 4096, HeaderDigest: digests, DataDigest: digests}
		r := bytes.NewReader(b)
		for range 64 {
			start := len(b) - r.Len()
			p, err := ReadPDU(r, l)
			if err != nil {
				var pe *ProtocolError
				var de *DigestError
				if !errors.As(err, &pe) && !errors.As(err, &de) && err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("untyped error %v", err)
				}
				return
			}
			if len(p.Data) > 4096 || len(p.AHS) > 1020 {
				t.Fatalf("%d bytes of data, %d of AHS", len(p.Data), len(p.AHS))
			}
			end := len(b) - r.Len()
			if got := AppendPDU(nil, p, l); !bytes.Equal(got, b[start:end]) && !digests {
				// Padding bytes are not kept: compare all but them.
				if !bytes.Equal(got[:BHSLen+len(p.AHS)+len(p.Data)], b[start:start+BHSLen+len(p.AHS)+len(p.Data)]) {
					t.Fatalf("re-encoded\n% x\nread\n% x", got, b[start:end])
				}
			}
		}
	})
}

// FuzzParseText parses arbitrary text data segments: no panic, every
// pair within the limits, and the pairs re-encode to text that parses to
// the same pairs. Seeds: the Login and Text data of a real LIO session.
func FuzzParseText(f *testing.F) {
	f.Add([]byte("InitiatorName=iqn.x\x00AuthMethod=CHAP,None\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, err := ParseText(OpTextReq, b)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for _, p := range pairs {
			if len(p.Key) == 0 || len(p.Key) > MaxKeyLength || len(p.Value) > MaxValueLength {
				t.Fatalf("pair %q beyond the limits", p)
			}
		}
		again, err := ParseText(OpTextReq, AppendText(nil, pairs...))
		if err != nil || len(again) != len(pairs) {
			t.Fatalf("re-encoded pairs: %v, %d pairs, want %d", err, len(again), len(pairs))
		}
		for i := range pairs {
			if again[i] != pairs[i] {
				t.Fatalf("pair %d: %q, want %q", i, again[i], pairs[i])
			}
		}
		// Every negotiation outcome of a key offered stays in range.
		for _, p := range pairs {
			neg, own := DefaultParams(), DefaultParams()
			Respond(&neg, &own, p.Key, p.Value, false)
			if err := Accept(&neg, &own, p.Key, p.Value); err == nil {
				if neg.MaxBurstLength < 512 || neg.MaxXmitDataSegmentLength < MinDataSegment || neg.MaxXmitDataSegmentLength > MaxDataSegment {
					t.Fatalf("%s=%s: %+v", p.Key, p.Value, neg)
				}
			}
		}
	})
}
