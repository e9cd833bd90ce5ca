package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/scan"
)

// printTable prints what nvme-cli 2.16 printed for the same namespaces.
// testdata/nvme-list-2.16.txt is the output of nvme-cli v2.16 (libnvme
// v1.16) "nvme list" over a sysfs tree (LIBNVME_SYSFS_PATH) holding these
// namespaces: a controller with serial "CC718D4EFF", model "complchain
// emulated NVMe/TCP" and firmware "1.0" (space padded, as the kernel
// prints them), kernel 6.8+ attributes (nuse, metadata_bytes).
func TestPrintTableGolden(t *testing.T) {
	want, err := os.ReadFile("testdata/nvme-list-2.16.txt")
	if err != nil {
		t.Fatal(err)
	}
	id := &nvme.IdentifyController{SerialNumber: "CC718D4EFF", ModelNumber: "complchain emulated NVMe/TCP", Firmware: "1.0"}
	nss := []*scan.Namespace{
		{NSID: 1, Name: "nvme0n1", Generic: "ng0n1", Size: 2097152, Used: 2097152, BlockSize: 512},
		{NSID: 2, Name: "nvme0n2", Generic: "ng0n2", Size: 2148437500, Used: 0, BlockSize: 4096},
		{NSID: 0xfffffffe, Name: "nvme0n3", Generic: "ng0n3", Size: 1, Used: 1, BlockSize: 512},
		{NSID: 31, Name: "nvme0n10", Generic: "ng0n10", Size: 999999, Used: 244140, BlockSize: 4096, MetadataSize: 8},
	}
	var got bytes.Buffer
	if err := printTable(&got, []listCtrl{{id, nss}}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("table:\n%s\nwant (nvme-cli %s):\n%s", got.Bytes(), nvmeCLIVersion, want)
	}
}

// Cells wider than their column widen it, header and rule included, as
// nvme-cli's table does; strings are cut at a NUL and lose trailing
// spaces, as libnvme reads them from sysfs.
func TestPrintTableWidens(t *testing.T) {
	id := &nvme.IdentifyController{SerialNumber: "S1  \x00junk", ModelNumber: "M", Firmware: "F"}
	nss := []*scan.Namespace{{NSID: 1, Name: "nvme12345n1000000", Generic: "ng12345n1000000", Size: 1, Used: 0, BlockSize: 512}}
	var got bytes.Buffer
	if err := printTable(&got, []listCtrl{{id, nss}}); err != nil {
		t.Fatal(err)
	}
	want := "Node                   Generic               SN                   Model                                    Namespace  Usage                      Format           FW Rev  \n" +
		"---------------------- --------------------- -------------------- ---------------------------------------- ---------- -------------------------- ---------------- --------\n" +
		"/dev/nvme12345n1000000 /dev/ng12345n1000000  S1                   M                                        0x1          0.00   B / 512.00   B    512   B +  0 B   F       \n"
	if got.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", got.String(), want)
	}
}

// The Usage and Format cells of a namespace like the one before it are
// reused, and worked out anew for one that differs in any field they
// show: each row holds its own namespace's cells, and its own
// controller's.
func TestPrintTableCellsPerRow(t *testing.T) {
	ids := []*nvme.IdentifyController{{SerialNumber: "S", ModelNumber: "M", Firmware: "F"}, {SerialNumber: "T", ModelNumber: "N", Firmware: "G"}}
	ctrls := []listCtrl{{id: ids[0]}, {id: ids[1]}}
	var nss []*scan.Namespace
	for i, v := range []struct {
		size, used uint64
		bs         uint32
		ms         uint16
	}{{8, 8, 512, 0}, {8, 8, 512, 0}, {8, 4, 512, 0}, {9, 4, 512, 0}, {9, 4, 4096, 0}, {9, 4, 4096, 8}, {9, 4, 4096, 8}, {9, 4, 512, 8}, {8, 8, 512, 0}} {
		ns := &scan.Namespace{NSID: uint32(i + 1), Name: fmt.Sprintf("nvme%dn%d", i%2, i+1), Generic: fmt.Sprintf("ng%dn%d", i%2, i+1),
			Size: v.size, Used: v.used, BlockSize: v.bs, MetadataSize: v.ms}
		ctrls[i%2].nss = append(ctrls[i%2].nss, ns)
		nss = append(nss, ns)
	}
	var got bytes.Buffer
	if err := printTable(&got, ctrls); err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(got.String(), "\n"), "\n")[2:] {
		rows[strings.Fields(line)[0]] = line
	}
	for i, ns := range nss {
		id := ids[i%2]
		want := fmt.Sprintf("%-21s %-21s %-20s %-40s %-10s %-26s %-16s %-8s", "/dev/"+ns.Name, "/dev/"+ns.Generic, id.SerialNumber, id.ModelNumber,
			fmt.Sprintf("%#x", ns.NSID), listUsage(ns), listFormat(ns), id.Firmware)
		if got := rows["/dev/"+ns.Name]; got != want {
			t.Errorf("row of %s:\n%q\nwant\n%q", ns.Name, got, want)
		}
	}
}

// Usage and Format units, as nvme-cli's suffix_si_get and
// suffix_binary_get give them.
func TestListUnits(t *testing.T) {
	tests := []struct {
		used, size uint64
		bs         uint32
		ms         uint16
		usage      string
		format     string
	}{
		{0, 1, 512, 0, "  0.00   B / 512.00   B", "512   B +  0 B"},
		{1, 2, 4096, 0, "  4.10  kB /   8.19  kB", "  4 KiB +  0 B"},
		{244140, 999999, 4096, 8, "1000.00  MB /   4.10  GB", "  4 KiB +  8 B"},
		{1<<52 - 1, 1<<52 - 1, 4096, 64, " 18.45  EB /  18.45  EB", "  4 KiB + 64 B"},
		{1 << 53, 1 << 53, 4096, 0, "  0.00   B /   0.00   B", "  4 KiB +  0 B"}, // 2^65 bytes wrap to 0 in nvme-cli's uint64
		{1953, 1953, 512, 0, "999.94  kB / 999.94  kB", "512   B +  0 B"},
		{1954, 1954, 512, 0, "  1.00  MB /   1.00  MB", "512   B +  0 B"},
	}
	for _, tt := range tests {
		ns := &scan.Namespace{Used: tt.used, Size: tt.size, BlockSize: tt.bs, MetadataSize: tt.ms}
		if got := listUsage(ns); got != tt.usage {
			t.Errorf("usage(%d, %d × %d) = %q, want %q", tt.used, tt.size, tt.bs, got, tt.usage)
		}
		if got := listFormat(ns); got != tt.format {
			t.Errorf("format(%d, %d) = %q, want %q", tt.bs, tt.ms, got, tt.format)
		}
	}
}

// jsonKeys returns the keys of the objects at each level of a "nvme list
// -v -o json" document: host, subsystem, controller, namespace (a
// controller's or a subsystem's).
func jsonKeys(t *testing.T, b []byte) map[string][]string {
	var doc struct {
		Devices []map[string]json.RawMessage
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	keys := map[string][]string{}
	add := func(level string, m map[string]json.RawMessage) {
		ks := slices.Sorted(maps.Keys(m))
		if old, ok := keys[level]; ok && !slices.Equal(old, ks) {
			t.Fatalf("%s keys %q and %q", level, old, ks)
		}
		keys[level] = ks
	}
	objects := func(raw json.RawMessage) []map[string]json.RawMessage {
		var out []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, h := range doc.Devices {
		add("host", h)
		for _, ss := range objects(h["Subsystems"]) {
			add("subsystem", ss)
			for _, ns := range objects(ss["Namespaces"]) {
				add("namespace", ns)
			}
			for _, c := range objects(ss["Controllers"]) {
				add("controller", c)
				for _, ns := range objects(c["Namespaces"]) {
					add("namespace", ns)
				}
			}
		}
	}
	return keys
}

// --verbose -o json has the keys nvme-cli 2.3 printed on a Linux host
// (with native multipath: namespaces under the subsystem there, under
// their controller here).
func TestPrintJSONVerboseKeys(t *testing.T) {
	defer goleak.VerifyNone(t)
	want, err := os.ReadFile("testdata/nvme-list-v-2.3.json")
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := run(t, "scan", "--controllers", "2", "--namespaces", "2", "--rtt", "0s", "-o", "json", "--verbose")
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, stderr)
	}
	got, wantKeys := jsonKeys(t, []byte(out)), jsonKeys(t, want)
	for _, level := range []string{"host", "subsystem", "controller", "namespace"} {
		if !slices.Equal(got[level], wantKeys[level]) {
			t.Errorf("%s keys %q, nvme-cli 2.3 printed %q", level, got[level], wantKeys[level])
		}
	}
}

// BenchmarkPrintTable prints the table of 100 000 namespaces alike, as a
// scan of the emulated target gives them.
func BenchmarkPrintTable(b *testing.B) {
	id := &nvme.IdentifyController{SerialNumber: "CC718D4EFF", ModelNumber: "complchain emulated NVMe/TCP", Firmware: "1.0"}
	nss := make([]*scan.Namespace, 100_000)
	for i := range nss {
		nss[i] = &scan.Namespace{NSID: uint32(i + 1), Name: fmt.Sprintf("nvme0n%d", i+1), Generic: fmt.Sprintf("ng0n%d", i+1),
			Size: 2097152, Used: 2097152, BlockSize: 512}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := printTable(io.Discard, []listCtrl{{id, nss}}); err != nil {
			b.Fatal(err)
		}
	}
}
