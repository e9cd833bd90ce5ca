package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/iscsi"
	"github.com/complchain/complchain/scsi"
)

func TestSCSICommand(t *testing.T) {
	defer goleak.VerifyNone(t)
	out, stderr, err := run(t, "scsi", "--hosts", "3", "--luns", "4", "--latency", "0s", "--rtt", "1ms")
	if err != nil {
		t.Fatalf("scsi: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 12 {
		t.Fatalf("%d lines, want 12:\n%s", len(lines), out)
	}
	i := 0
	for h := range 3 {
		for l := range 4 {
			want := fmt.Sprintf("[%d:0:0:%d]", h, l)
			node := fmt.Sprintf("/dev/sd%c", 'a'+i)
			if f := strings.Fields(lines[i]); f[0] != want || f[5] != node {
				t.Fatalf("line %d: %q, want %s … %s", i, lines[i], want, node)
			}
			i++
		}
	}
	if !strings.Contains(stderr, "ordered scan of 3 iSCSI targets at 127.0.0.1:") {
		t.Errorf("stderr %q", stderr)
	}
	out, stderr, err = run(t, "scsi", "--hosts", "2", "--luns", "1", "--latency", "0s", "--hang-host", "0", "--timeout", "200ms", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "host 0 (iqn.2026-01.io.example:host0): [0:0:0:0] REPORT LUNS: iscsi: login to iqn.2026-01.io.example:host0 at 127.0.0.1:") {
		t.Errorf("the hung target is not reported: %q", stderr)
	}
	var doc struct{ Devices []map[string]any }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Devices) != 1 || doc.Devices[0]["Device"] != "/dev/sda" || doc.Devices[0]["HCTL"] != "1:0:0:0" {
		t.Fatalf("json %v %v", doc, err)
	}
	if got := fmt.Sprint(doc.Devices[0]["Aliases"]); got != "[scsi-35333333000000000 wwn-0x5333333000000000]" {
		t.Fatalf("aliases %s", got)
	}
	if _, _, err := run(t, "scsi", "--mode", "later"); err == nil || !strings.Contains(err.Error(), `unknown scan mode "later"`) {
		t.Fatalf("bad mode: %v", err)
	}
}

// --portal scans a target that is not embedded: every target SendTargets
// lists, or the --target names given, in that order.
func TestSCSIPortal(t *testing.T) {
	defer goleak.VerifyNone(t)
	tg := iscsi.NewTarget(iscsi.TargetConfig{Hosts: []*scsi.Host{{LUNs: 2, Vendor: "V", Product: "P", Rev: "1"}, {LUNs: 1, Vendor: "V", Product: "P", Rev: "1"}, {LUNs: 3, Vendor: "V", Product: "P", Rev: "1"}}})
	addr, err := tg.Start(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	tests := []struct {
		args []string
		want []string // HCTL and device of each line
	}{
		{[]string{"--discover"}, []string{"[0:0:0:0] /dev/sda", "[0:0:0:1] /dev/sdb", "[1:0:0:0] /dev/sdc", "[2:0:0:0] /dev/sdd", "[2:0:0:1] /dev/sde", "[2:0:0:2] /dev/sdf"}},
		{[]string{"--discover", "--max-targets", "2"}, []string{"[0:0:0:0] /dev/sda", "[0:0:0:1] /dev/sdb", "[1:0:0:0] /dev/sdc"}},
		{[]string{"--target", tg.Name(2) + "," + tg.Name(0)}, []string{"[0:0:0:0] /dev/sda", "[0:0:0:1] /dev/sdb", "[0:0:0:2] /dev/sdc", "[1:0:0:0] /dev/sdd", "[1:0:0:1] /dev/sde"}},
	}
	for _, tt := range tests {
		out, stderr, err := run(t, append([]string{"scsi", "--portal", addr}, tt.args...)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", tt.args, err, stderr)
		}
		var got []string
		for line := range strings.Lines(out) {
			f := strings.Fields(line)
			got = append(got, f[0]+" "+f[5])
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%v:\n%s\nwant %q", tt.args, out, tt.want)
		}
	}
	if _, _, err := run(t, "scsi", "--portal", "127.0.0.1:1", "--timeout", "2s"); err == nil || !strings.Contains(err.Error(), "discover targets at 127.0.0.1:1") {
		t.Errorf("no portal: %v", err)
	}
}

// A flag the scan would ignore is refused: the portal's without
// --portal, the embedded target's with it.
func TestSCSIFlagCombinations(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--target", "iqn.x"}, "--target needs --portal"},
		{[]string{"--discover"}, "--discover needs --portal"},
		{[]string{"--portal", "127.0.0.1:1", "--hosts", "3"}, "--hosts applies only to the embedded target"},
		{[]string{"--portal", "127.0.0.1:1", "--luns", "3"}, "--luns applies only to the embedded target"},
		{[]string{"--portal", "127.0.0.1:1", "--latency", "1ms"}, "--latency applies only"},
		{[]string{"--portal", "127.0.0.1:1", "--rtt", "1ms"}, "--rtt applies only"},
		{[]string{"--portal", "127.0.0.1:1", "--hang-host", "0"}, "--hang-host applies only"},
		{[]string{"--hosts", "2", "--hang-host", "2"}, "--hang-host 2: no such host (0 to 1)"},
	}
	for _, tt := range tests {
		_, _, err := run(t, append([]string{"scsi"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.want)
		}
	}
}
