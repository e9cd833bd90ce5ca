package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/goleak"
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
