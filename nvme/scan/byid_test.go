package scan_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/scan"
	"github.com/complchain/complchain/nvme/target"
)

// controller returns the Identify Controller a host decodes from a
// controller with vid and the raw serial and model number fields (padded
// with spaces to 20 and 40 bytes).
func controller(t *testing.T, vid uint16, sn, mn string) *nvme.IdentifyController {
	t.Helper()
	p := make([]byte, nvme.IdentifySize)
	p[0], p[1] = byte(vid), byte(vid>>8)
	copy(p[4:24], "                    ")
	copy(p[24:64], "                                        ")
	copy(p[4:24], sn)
	copy(p[24:64], mn)
	var id nvme.IdentifyController
	if err := id.UnmarshalBinary(p); err != nil {
		t.Fatal(err)
	}
	return &id
}

var (
	testUUID  = [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	testNGUID = [16]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	testEUI64 = [8]byte{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7}
)

// ids returns identifiers with those named present: u (UUID), g (NGUID),
// e (EUI64).
func ids(which string) nvme.NSIdentifiers {
	var v nvme.NSIdentifiers
	for _, c := range which {
		switch c {
		case 'u':
			v.UUID = testUUID
		case 'g':
			v.NGUID = testNGUID
		case 'e':
			v.EUI64 = testEUI64
		}
	}
	return v
}

// The by-id names of a namespace for every combination of identifiers
// and for NSID 1 and others, as Linux's wwid attribute and systemd v257's
// 60-persistent-storage.rules make them (worked out by hand from
// drivers/nvme/host/sysfs.c wwid_show and the rules).
func TestByIDIdentifiers(t *testing.T) {
	qemu := controller(t, 0x1b36, "SN-0001", "QEMU NVMe Ctrl")
	const (
		uuid     = "nvme-uuid.01234567-89ab-cdef-0123-456789abcdef"
		nguid    = "nvme-eui.00112233445566778899aabbccddeeff"
		eui64    = "nvme-eui.a0a1a2a3a4a5a6a7"
		fallback = "nvme-nvme.1b36-534e2d30303031-51454d55204e564d65204374726c-0000000"
		serial   = "nvme-QEMU_NVMe_Ctrl_SN-0001"
	)
	tests := []struct {
		ids  string
		nsid uint32
		want []string
	}{
		{"uge", 1, []string{uuid, serial, serial + "_1"}},
		{"ug", 1, []string{uuid, serial, serial + "_1"}},
		{"ue", 1, []string{uuid, serial, serial + "_1"}},
		{"u", 1, []string{uuid, serial, serial + "_1"}},
		{"ge", 1, []string{nguid, serial, serial + "_1"}},
		{"g", 1, []string{nguid, serial, serial + "_1"}},
		{"e", 1, []string{eui64, serial, serial + "_1"}},
		{"", 1, []string{fallback + "1", serial, serial + "_1"}},
		{"uge", 2, []string{uuid, serial + "_2"}},
		{"ug", 2, []string{uuid, serial + "_2"}},
		{"ue", 2, []string{uuid, serial + "_2"}},
		{"u", 2, []string{uuid, serial + "_2"}},
		{"ge", 2, []string{nguid, serial + "_2"}},
		{"g", 2, []string{nguid, serial + "_2"}},
		{"e", 2, []string{eui64, serial + "_2"}},
		{"", 2, []string{fallback + "2", serial + "_2"}},
		{"", 0x1f, []string{fallback[:len(fallback)-1] + "1f", serial + "_31"}},
		// sysfs prints the NSID with "%d": NSIDs above 2^31-1 come out negative.
		{"", 0x80000000, []string{"nvme-nvme.1b36-534e2d30303031-51454d55204e564d65204374726c-80000000", serial + "_-2147483648"}},
		{"g", 0xfffffffe, []string{nguid, serial + "_-2"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.ids, tt.nsid), func(t *testing.T) {
			got := scan.ByID(qemu, tt.nsid, ids(tt.ids))
			if !slices.Equal(got, tt.want) {
				t.Errorf("ByID =\n%q, want\n%q", got, tt.want)
			}
			if w := scan.WWID(qemu, tt.nsid, ids(tt.ids)); "nvme-"+w != tt.want[0] {
				t.Errorf("WWID = %q, want %q", w, tt.want[0][len("nvme-"):])
			}
		})
	}
}

// Model and serial numbers go through udev's character replacement byte
// for byte: the $attr substitution (trailing white space cut, "/ $%?,"
// kept), the unescaped NSID 1 link (white space runs become one '_'),
// and string_escape=replace (every other byte becomes '_').
func TestByIDCharacters(t *testing.T) {
	const u = "nvme-uuid.01234567-89ab-cdef-0123-456789abcdef"
	tests := []struct {
		name    string
		vid     uint16
		sn, mn  string
		ids     string
		want1   []string // NSID 1
		wantTwo string   // the last name of NSID 2
	}{
		{"complchain's model has a slash: no unescaped link", 0, "CC0A1B2C3D", "complchain emulated NVMe/TCP", "u",
			[]string{u, "nvme-complchain_emulated_NVMe_TCP_CC0A1B2C3D", "nvme-complchain_emulated_NVMe_TCP_CC0A1B2C3D_1"},
			"nvme-complchain_emulated_NVMe_TCP_CC0A1B2C3D_2"},
		{"slash in the serial", 0, "a/b", "M", "u",
			[]string{u, "nvme-M_a_b", "nvme-M_a_b_1"}, "nvme-M_a_b_2"},
		{"leading spaces and runs of spaces", 0, " S1", "  Big   Disk", "u",
			[]string{u, "nvme-Big_Disk__S1", "nvme-__Big___Disk__S1", "nvme-__Big___Disk__S1_1"},
			"nvme-__Big___Disk__S1_2"},
		{"tab and $%?,", 0, "x,y", "A\tB$%?,C", "u",
			[]string{u, "nvme-A_B____C_x_y", "nvme-A_B____C_x_y_1"}, "nvme-A_B____C_x_y_2"},
		{"trailing tab and carriage return are cut", 0, "S\r", "Disk\t", "u",
			[]string{u, "nvme-Disk_S", "nvme-Disk_S_1"}, "nvme-Disk_S_2"},
		{"UTF-8 kept, bad bytes and noncharacters replaced, \\x kept", 0, "\xef\xb7\x90Z\xef\xbf\xbe", "Caf\xc3\xa9 \xff\\x41\\q", "u",
			[]string{u, "nvme-Caf\xc3\xa9__\\x41_q____Z___", "nvme-Caf\xc3\xa9__\\x41_q____Z____1"},
			"nvme-Caf\xc3\xa9__\\x41_q____Z____2"},
		{"a NUL ends the sysfs serial, not the wwid's", 0, "AB\x00CD", "M", "",
			[]string{"nvme-nvme.0000-4142004344-4d-00000001", "nvme-M_AB", "nvme-M_AB_1"}, "nvme-M_AB_2"},
		{"blank serial: the wwid link only", 0x1b36, "", "M", "",
			[]string{"nvme-nvme.1b36--4d-00000001"}, "nvme-nvme.1b36--4d-00000002"},
		{"serial of NULs", 0x1b36, "\x00\x00\x00", "M", "e",
			[]string{"nvme-eui.a0a1a2a3a4a5a6a7"}, "nvme-eui.a0a1a2a3a4a5a6a7"},
		{"blank model: the wwid link only", 0xabcd, "S", "", "g",
			[]string{"nvme-eui.00112233445566778899aabbccddeeff"}, "nvme-eui.00112233445566778899aabbccddeeff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := controller(t, tt.vid, tt.sn, tt.mn)
			if got := scan.ByID(id, 1, ids(tt.ids)); !slices.Equal(got, tt.want1) {
				t.Errorf("NSID 1:\n%q, want\n%q", got, tt.want1)
			}
			if got := scan.ByID(id, 2, ids(tt.ids)); got[len(got)-1] != tt.wantTwo {
				t.Errorf("NSID 2: %q, want it to end with %q", got, tt.wantTwo)
			}
		})
	}
}

// A scan gives each namespace the names ByID makes from the identifiers
// the target reports, absent or zero alike: identifiers reach the host
// over the wire, and the kernel's precedence picks one.
func TestScanByID(t *testing.T) {
	tg, c := setup(t, target.Config{})
	for _, ns := range []target.Namespace{
		{NSID: 1},
		{NSID: 2, Omit: target.IDUUID},
		{NSID: 3, Zero: target.IDUUID},
		{NSID: 4, Omit: target.IDUUID | target.IDNGUID},
		{NSID: 5, Omit: target.IDUUID, Zero: target.IDNGUID},
		{NSID: 6, Omit: target.IDUUID | target.IDNGUID | target.IDEUI64},
		{NSID: 7, Zero: target.IDUUID | target.IDNGUID | target.IDEUI64},
		{NSID: 8, Omit: target.IDNGUID | target.IDEUI64},
	} {
		if err := tg.Attach(ns); err != nil {
			t.Fatal(err)
		}
	}
	s := &scan.Scanner{Ctrl: c}
	if _, err := s.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := c.IdentifyController()
	serial := "nvme-complchain_emulated_NVMe_TCP_" + id.SerialNumber
	// A real Linux 6.12 host connected to this target read NSID 1's wwid
	// as uuid.718d4eff-3292-8a27-8000-000000000001.
	const hash = "718d4eff3292fa27" // FNV-1a of the default NQN, whence the target derives NGUIDs
	fallback := fmt.Sprintf("nvme-nvme.0000-%x-%x-0000000", id.SerialNumber, id.ModelNumber)
	want := map[uint32][]string{
		1: {"nvme-uuid.718d4eff-3292-8a27-8000-000000000001", serial, serial + "_1"},
		2: {"nvme-eui." + hash + "00000000" + "00000002", serial + "_2"},
		3: {"nvme-eui." + hash + "00000000" + "00000003", serial + "_3"},
		4: {"nvme-eui.718d4eff00000004", serial + "_4"},
		5: {"nvme-eui.718d4eff00000005", serial + "_5"},
		6: {fallback + "6", serial + "_6"},
		7: {fallback + "7", serial + "_7"},
		8: {"nvme-uuid.718d4eff-3292-8a27-8000-000000000008", serial + "_8"},
	}
	for _, ns := range s.Namespaces() {
		if !slices.Equal(ns.Aliases, want[ns.NSID]) {
			t.Errorf("NSID %d: %q, want %q", ns.NSID, ns.Aliases, want[ns.NSID])
		}
		ids := nvme.NSIdentifiers{NGUID: ns.NGUID, EUI64: ns.EUI64, UUID: ns.UUID}
		if got := scan.ByID(id, ns.NSID, ids); !slices.Equal(got, ns.Aliases) {
			t.Errorf("NSID %d: ByID %q, scan %q", ns.NSID, got, ns.Aliases)
		}
		if "nvme-"+ns.WWID != want[ns.NSID][0] {
			t.Errorf("NSID %d: WWID %q", ns.NSID, ns.WWID)
		}
	}
	if len(s.Namespaces()) != len(want) {
		t.Errorf("%d namespaces, want %d", len(s.Namespaces()), len(want))
	}
}

// What a real Linux 6.1 host read from sysfs for the namespaces of
// "complchain target --namespaces 6 --omit-ids 2=uuid,4=all,6=nguid+eui64
// --zero-ids 3=uuid+nguid,5=all" (shared/interop's boot-host.sh, its ids
// section: device|wwid|model|serial|nsid): udev's rules make, from those
// values, the names the scan gives, and the kernel's wwid is the scan's.
func TestLinuxHostIDs(t *testing.T) {
	b, err := os.ReadFile("testdata/linux-6.1-ids.txt")
	if err != nil {
		t.Fatal(err)
	}
	tg, c := setup(t, target.Config{})
	for _, ns := range []target.Namespace{
		{NSID: 1},
		{NSID: 2, Omit: target.IDUUID},
		{NSID: 3, Zero: target.IDUUID | target.IDNGUID},
		{NSID: 4, Omit: target.IDUUID | target.IDNGUID | target.IDEUI64},
		{NSID: 5, Zero: target.IDUUID | target.IDNGUID | target.IDEUI64},
		{NSID: 6, Omit: target.IDNGUID | target.IDEUI64},
	} {
		if err := tg.Attach(ns); err != nil {
			t.Fatal(err)
		}
	}
	s := &scan.Scanner{Ctrl: c}
	if _, err := s.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	byNSID := map[string]*scan.Namespace{}
	for _, ns := range s.Namespaces() {
		byNSID[fmt.Sprint(ns.NSID)] = ns
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 5 {
			t.Fatalf("line %q", line)
		}
		dev, wwid, model, serial, nsid := f[0], f[1], f[2], f[3], f[4]
		ns := byNSID[nsid]
		if ns == nil {
			t.Fatalf("%s: NSID %s not scanned", dev, nsid)
		}
		if ns.WWID != wwid {
			t.Errorf("%s: WWID %q, Linux %q", dev, ns.WWID, wwid)
		}
		if want := scan.UdevLinks(wwid, model, serial, nsid); !slices.Equal(ns.Aliases, want) {
			t.Errorf("%s: aliases %q, udev would make %q", dev, ns.Aliases, want)
		}
		seen++
	}
	if seen != 12 { // six namespaces, each as its head and its path
		t.Errorf("%d lines, want 12", seen)
	}
}
