package nvme

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"
)

// structure is a data structure with one description of its layout: the
// encoder and decoder beside each other.
type structure interface {
	encoding.BinaryAppender
	encoding.BinaryUnmarshaler
}

// le16, le32 and le64 are little-endian field values, for the tables.
func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// TestLayouts encodes each structure, checks fields at their offsets in
// the specification, decodes the bytes back to the value it started from,
// and refuses a buffer one byte short.
func TestLayouts(t *testing.T) {
	ns := IdentifyNamespace{NSZE: 1 << 21, NCAP: 1 << 20, NUSE: 7, NSFEAT: 1, NLBAF: 1, FLBAS: 1, NMIC: 1, DLFEAT: 9, NSATTR: 1,
		ANAGRPID: 5, NGUID: [16]byte{0xa0, 15: 0xaf}, EUI64: [8]byte{0xe0, 7: 0xe7}}
	ns.LBAF[0] = LBAFormat{DataShift: 9}
	ns.LBAF[1] = LBAFormat{MetadataSize: 8, DataShift: 12, Performance: 2}
	tests := []struct {
		name string
		in   structure
		size int
		at   map[int][]byte // offset → bytes of the encoding
	}{
		{"Identify Controller", &IdentifyController{
			VID: 0x1b36, SSVID: 0x1af4, SerialNumber: "SN42", ModelNumber: "complchain", Firmware: "1.0",
			RAB: 6, CMIC: 2, MDTS: 8, CNTLID: 0x1234, Version: 0x10400, OAES: AsyncEventNamespaceChanged, CTRATT: 0x80,
			CNTRLTYPE: 1, ACL: 3, AERL: 3, FRMW: 1, LPA: 4, WCTEMP: 343, CCTEMP: 373, KAS: 1, MAXCMD: 1024, NN: 1024,
			ANATT: 10, ANACAP: 0x5f, ANAGRPMAX: 0x80000001, NANAGRPID: 0x80000002, MNAN: 1000,
			ONCS: ONCSDatasetManagement | ONCSWriteZeroes, VWC: 1, SGLS: 0x100005, SubNQN: "nqn.2026-01.io.example:x", IOCCSZ: 516, IORCSZ: 1, ICDOFF: 0,
			MSDBD: 1, PS0MaxPower: 900,
		}, IdentifySize, map[int][]byte{
			0: le16(0x1b36), 2: le16(0x1af4), 4: []byte("SN42                "), 24: []byte("complchain  "), 64: []byte("1.0     "),
			72: {6}, 76: {2, 8}, 78: le16(0x1234), 80: le32(0x10400), 92: le32(1 << 8), 96: le32(0x80), 111: {1},
			258: {3, 3, 1, 4}, 266: le16(343), 268: le16(373), 320: le16(1), 342: {10, 0x5f},
			344: le32(0x80000001), 348: le32(0x80000002), 540: le32(1000), 512: {0x66, 0x44}, 514: le16(1024),
			516: le32(1024), 520: le16(0x0c), 525: {1}, 536: le32(0x100005), 768: []byte("nqn.2026-01.io.example:x\x00"),
			1792: le32(516), 1796: le32(1), 1803: {1}, 2048: le16(900),
		}},
		{"Identify Namespace", &ns, IdentifySize, map[int][]byte{
			0: le64(1 << 21), 8: le64(1 << 20), 16: le64(7), 24: {1, 1, 1}, 30: {1}, 33: {9}, 92: le32(5), 99: {1},
			104: {0xa0}, 119: {0xaf, 0xe0}, 127: {0xe7}, 128: {0, 0, 9, 0}, 132: {8, 0, 12, 2},
		}},
		{"I/O Command Set Independent Identify Namespace", &IdentifyCSIndependentNS{
			NSFEAT: 1, NMIC: 1, RESCAP: 0x7f, FPI: 0x80, ANAGRPID: 2, NSATTR: 1, NVMSETID: 3, ENDGID: 4, NSTAT: 1,
		}, IdentifySize, map[int][]byte{
			0: {1, 1, 0x7f, 0x80}, 4: le32(2), 8: {1, 0}, 10: le16(3), 12: le16(4), 14: {1, 0},
		}},
		{"Namespace Identification Descriptor list", &NSIdentifiers{
			EUI64: [8]byte{0xe0, 7: 0xe7}, NGUID: [16]byte{0xa0, 15: 0xaf}, UUID: [16]byte{0xb0, 15: 0xbf}, CSI: 0, HasCSI: true,
		}, IdentifySize, map[int][]byte{
			0: {NIDTEUI64, 8, 0, 0, 0xe0}, 11: {0xe7}, 12: {NIDTNGUID, 16, 0, 0, 0xa0}, 31: {0xaf},
			32: {NIDTUUID, 16, 0, 0, 0xb0}, 51: {0xbf}, 52: {NIDTCSI, 1, 0, 0, 0}, 57: {0, 0, 0, 0},
		}},
		{"Namespace Identification Descriptor list, NGUID only", &NSIdentifiers{NGUID: [16]byte{1}},
			IdentifySize, map[int][]byte{0: {NIDTNGUID, 16, 0, 0, 1}, 20: {0, 0, 0, 0}}},
		{"SMART / Health Information log", &SMARTLog{
			CriticalWarning: 1, Temperature: 308, AvailableSpare: 100, SpareThreshold: 10, PercentageUsed: 3,
			DataUnitsRead: 11, DataUnitsWritten: 12, HostReads: 13, HostWrites: 14, BusyTime: 15, PowerCycles: 16,
			PowerOnHours: 17, UnsafeShutdowns: 18, MediaErrors: 19, ErrorLogEntries: math.MaxUint64,
		}, SMARTLogSize, map[int][]byte{
			0: {1}, 1: le16(308), 3: {100, 10, 3}, 32: append(le64(11), le64(0)...), 48: le64(12), 64: le64(13),
			80: le64(14), 96: le64(15), 112: le64(16), 128: le64(17), 144: le64(18), 160: le64(19),
			176: append(le64(math.MaxUint64), le64(0)...),
		}},
		{"Connect data", &ConnectData{HostID: [16]byte{0xaa, 15: 0xab}, CNTLID: DynamicController,
			SubsystemNQN: "nqn.sub", HostNQN: "nqn.host"}, ConnectDataSize, map[int][]byte{
			0: {0xaa}, 15: {0xab}, 16: le16(0xffff), 256: []byte("nqn.sub\x00"), 512: []byte("nqn.host\x00"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			b, err := tt.in.AppendBinary(bytes.Clone(prefix))
			if err != nil || len(b) != len(prefix)+tt.size || !bytes.HasPrefix(b, prefix) {
				t.Fatalf("AppendBinary: %d bytes after the prefix, %v; want %d", len(b)-len(prefix), err, tt.size)
			}
			p := b[len(prefix):]
			for off, want := range tt.at {
				if got := p[off : off+len(want)]; !bytes.Equal(got, want) {
					t.Errorf("bytes %d-%d = % x, want % x", off, off+len(want)-1, got, want)
				}
			}
			out := reflect.New(reflect.TypeOf(tt.in).Elem()).Interface().(structure)
			if err := out.UnmarshalBinary(p); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !reflect.DeepEqual(out, tt.in) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", out, tt.in)
			}
			again, _ := out.AppendBinary(nil)
			if !bytes.Equal(again, p) {
				t.Fatal("decoded value encodes to other bytes")
			}
			if _, ok := tt.in.(*NSIdentifiers); ok {
				return // a list ends where its descriptors end
			}
			if err := out.UnmarshalBinary(p[:tt.size-1]); !errors.Is(err, ErrShortBuffer) {
				t.Fatalf("%d bytes: %v, want ErrShortBuffer", tt.size-1, err)
			}
		})
	}
}

// A 128-bit SMART counter beyond 2^64-1 decodes as math.MaxUint64.
func TestSMARTLogCounterSaturates(t *testing.T) {
	p := make([]byte, SMARTLogSize)
	binary.LittleEndian.PutUint64(p[128:], 5)   // Power On Hours, low
	binary.LittleEndian.PutUint64(p[128+8:], 1) // high
	binary.LittleEndian.PutUint64(p[144:], 6)
	var s SMARTLog
	if err := s.UnmarshalBinary(p); err != nil || s.PowerOnHours != math.MaxUint64 || s.UnsafeShutdowns != 6 {
		t.Fatalf("decoded %+v, %v", s, err)
	}
}

// The discovery log encoder and decoder describe one layout.
func TestDiscoveryLogRoundTrip(t *testing.T) {
	entries := []DiscoveryEntry{
		{TransportType: 3, AddressFamily: 1, SubsystemType: 2, PortID: 1, CNTLID: DynamicController, AdminQueueMax: 32,
			ServiceID: "4420", SubsystemNQN: "nqn.2026-01.io.example:a", Address: "127.0.0.1"},
		{TransportType: 3, AddressFamily: 2, SubsystemType: 3, Requirements: 4, PortID: 2, CNTLID: 7, AdminQueueMax: 128,
			ServiceID: "8009", SubsystemNQN: DiscoveryNQN, Address: "::1"},
	}
	tests := []struct {
		name    string
		entries []DiscoveryEntry
		at      map[int][]byte
	}{
		{"empty", nil, map[int][]byte{0: le64(9), 8: le64(0)}},
		{"two entries", entries, map[int][]byte{
			0: le64(9), 8: le64(2),
			1024: {3, 1, 2, 0}, 1028: le16(1), 1030: le16(0xffff), 1032: le16(32), 1024 + 32: []byte("4420 "),
			1024 + 256: []byte("nqn.2026-01.io.example:a\x00"), 1024 + 512: []byte("127.0.0.1 "),
			2048: {3, 2, 3, 4}, 2048 + 512: []byte("::1 "),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendDiscoveryLog([]byte("x"), 9, tt.entries)
			p := b[1:]
			if len(p) != DiscoveryLogHeaderSize+DiscoveryEntrySize*len(tt.entries) {
				t.Fatalf("%d bytes", len(p))
			}
			for off, want := range tt.at {
				if got := p[off : off+len(want)]; !bytes.Equal(got, want) {
					t.Errorf("bytes %d-%d = % x, want % x", off, off+len(want)-1, got, want)
				}
			}
			gen, n, got, err := ParseDiscoveryLog(p)
			if err != nil || gen != 9 || n != uint64(len(tt.entries)) || !reflect.DeepEqual(got, tt.entries) {
				t.Fatalf("ParseDiscoveryLog = %d %d %+v %v", gen, n, got, err)
			}
		})
	}
}
