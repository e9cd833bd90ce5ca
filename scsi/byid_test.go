package scsi

import (
	"slices"
	"strings"
	"testing"
)

// desig is a VPD page 83h designation descriptor: code set, association
// and type, identifier.
func desig(code, assoc, typ byte, id string) []byte {
	return append([]byte{code, assoc<<4 | typ, 0, byte(len(id))}, id...)
}

// page83 returns VPD page 83h holding the descriptors.
func page83(ds ...[]byte) []byte {
	var body []byte
	for _, d := range ds {
		body = append(body, d...)
	}
	return append([]byte{0, 0x83, byte(len(body) >> 8), byte(len(body))}, body...)
}

// The by-id names of SCSI disks for the kinds of VPD page 83h and 80h
// udev's scsi_id reads, worked out by hand from systemd v257's
// scsi_serial.c (id_search_list, check_fill_0x83_id,
// do_scsi_page80_inquiry) and 60-persistent-storage.rules.
func TestByID(t *testing.T) {
	inq := AppendInquiry(nil, Inquiry{Vendor: "Linux", Product: "scsi_debug", Revision: "0191"})
	lio := "\x60\x01\x40\x50\x00\x00\x00\x05\xe1\xf4\xc5\xa9\xd1\xe0\x12\x34" // naa.6001405000000005e1f4c5a9d1e01234
	tests := []struct {
		name         string
		vpd80, vpd83 []byte
		want         []string
	}{
		{"emulated host: NAA 5", AppendSerialVPD(nil, 0, "SN0001"), AppendDeviceIDVPD(nil, 0, [8]byte{0x53, 0x33, 0x33, 0x30, 0, 1, 0, 2}),
			[]string{"scsi-35333333000010002", "wwn-0x5333333000010002"}},
		{"Linux LIO: NAA 6 among the others", AppendSerialVPD(nil, 0, "00000000-5e1f-4c5a-9d1e-0123456789ab"), page83(
			desig(1, 1, 5, "\x00\x00\x00\x00"), // target port group: noted, not used
			desig(2, 0, 1, "LIO-ORG 00000000-5e1f-4c5a-9d1e-0123456789ab"),
			desig(1, 0, 3, lio),
			desig(1, 1, 4, "\x00\x00\x00\x01"),
			desig(3, 2, 8, "iqn.2026-01.io.example:host0,t,0x0001\x00\x00\x00")),
			[]string{"scsi-36001405000000005e1f4c5a9d1e01234", "wwn-0x6001405000000005e1f4c5a9d1e01234"}},
		{"NAA 6 before NAA 5 before EUI-64, whatever their order", nil, page83(
			desig(1, 0, 2, "\x01\x02\x03\x04\x05\x06\x07\x08"),
			desig(1, 0, 3, "\x51\x11\x11\x11\x11\x11\x11\x11"),
			desig(1, 0, 3, "\x61\x11\x11\x11\x11\x11\x11\x11\x22\x22\x22\x22\x22\x22\x22\x22")),
			[]string{"scsi-36111111111111111" + "2222222222222222", "wwn-0x61111111111111112222222222222222"}},
		{"EUI-64: no wwn", nil, page83(desig(1, 0, 2, "\x01\x02\x03\x04\x05\x06\x07\x08")),
			[]string{"scsi-20102030405060708"}},
		{"T10 vendor ID, ASCII with runs of spaces", nil, page83(desig(2, 0, 1, "LIO-ORG  disk 42 ")),
			[]string{"scsi-1LIO-ORG_disk_42"}},
		{"vendor specific: vendor and product before it", nil, page83(desig(1, 0, 0, "\x0a\x0b")),
			[]string{"scsi-0Linux_scsi_debug_0a0b"}},
		{"NAA of the target port only: page 80h", AppendSerialVPD(nil, 0, "SN01"), page83(desig(1, 1, 3, "\x51\x11\x11\x11\x11\x11\x11\x11")),
			[]string{"scsi-SLinux_scsi_debug_SN01"}},
		{"no page 83h: page 80h, spaces collapsed", AppendSerialVPD(nil, 0, "  ABC  "), nil,
			[]string{"scsi-SLinux_scsi_debug_ABC"}},
		{"page 80h with unsafe bytes", AppendSerialVPD(nil, 0, "a/b\tc$\xff"), nil,
			[]string{"scsi-SLinux_scsi_debug_a_b_c__"}},
		{"neither page", nil, nil, nil},
		{"ASCII NAA: the wwn name keeps a slash", nil, page83(desig(2, 0, 3, "6a/b c")),
			[]string{"scsi-36a_b_c", "wwn-0x6a/b_c"}},
		{"SCSI-2 page 83h (byte 6 not zero)", nil, []byte{0, 0x83, 0, 8, 0x60, 0x06, 0x48, 1, 2, 3, 4, 5},
			[]string{"scsi-36006480102030405"}},
		{"too long for scsi_id: page 80h", AppendSerialVPD(nil, 0, "X"), page83(desig(1, 0, 0, strings.Repeat("\x01", 120))),
			[]string{"scsi-SLinux_scsi_debug_X"}},
		{"page 83h whose length runs past what was sent", nil, []byte{0, 0x83, 0xff, 0xff, 1, 3, 0, 8, 0x51, 1, 2, 3, 4, 5, 6, 7},
			[]string{"scsi-35101020304050607", "wwn-0x5101020304050607"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ByID(inq, tt.vpd80, tt.vpd83); !slices.Equal(got, tt.want) {
				t.Errorf("ByID =\n%q, want\n%q", got, tt.want)
			}
		})
	}
}

// The scan gives every disk its by-id names.
func TestScanByID(t *testing.T) {
	s := &Scanner{}
	s.AddHost(t.Context(), &Host{Targets: 2, Vendor: "Linux", Product: "scsi_debug"})
	if err := s.WaitScans(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	want := [][]string{
		{"scsi-35333333000000000", "wwn-0x5333333000000000"},
		{"scsi-35333333000010000", "wwn-0x5333333000010000"},
	}
	devs := s.Devices()
	if len(devs) != len(want) {
		t.Fatalf("%d devices, want %d", len(devs), len(want))
	}
	for i, d := range devs {
		if !slices.Equal(d.Aliases, want[i]) {
			t.Errorf("%v: %q, want %q", d.Addr, d.Aliases, want[i])
		}
	}
}
