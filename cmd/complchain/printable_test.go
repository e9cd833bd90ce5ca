package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/scsi"
)

// safeForTerminal reports the first byte sequence of s that a terminal
// would act on: a control character other than newline, DEL, a C1
// control, invalid UTF-8 or another rune that is not printable.
func safeForTerminal(s string) (bad string, ok bool) {
	for i, r := range s {
		if r == '\n' {
			continue
		}
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return s[i:min(len(s), i+4)], false
		}
	}
	return "", true
}

func TestPrintable(t *testing.T) {
	tests := []struct {
		in, table string
	}{
		{"SAMSUNG MZ-V8P1T0", "SAMSUNG MZ-V8P1T0"},
		{`back\slash`, `back\slash`},
		{"esc\x1b[2Jbel\acr\r", `esc\x1b[2Jbel\x07cr\x0d`},
		{"del\x7f", `del\x7f`},
		{"csi\u009b31m", `csi\u009b31m`},
		{"raw\x9b31m", `raw\x9b31m`},
		{"bad\xff\xfe", `bad\xff\xfe`},
		{"rlo\u202eevil", `rlo\u202eevil`},
		{"tag\U000e0041", `tag\U000e0041`},
		{"nul\x00tab\t", `nul\x00tab\x09`},
		{"mixed\\\x1b", `mixed\\\x1b`},
		{"émoji ✓", "émoji ✓"},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			if got := printable(tt.in); got != tt.table {
				t.Errorf("printable(%q) = %q, want %q", tt.in, got, tt.table)
			}
			b, err := json.Marshal(struct{ S wireString }{wireString(tt.in)})
			if err != nil {
				t.Fatal(err)
			}
			if bad, ok := safeForTerminal(string(b)); !ok {
				t.Errorf("JSON %q holds %q raw", b, bad)
			}
			var back struct{ S string }
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("JSON %q: %v", b, err)
			}
			if want := strings.ToValidUTF8(tt.in, "\ufffd"); back.S != want && utf8.ValidString(tt.in) {
				t.Errorf("JSON decodes to %q, want %q", back.S, want)
			}
		})
	}
}

// A target whose model, serial and firmware hold escape sequences cannot
// write them to the terminal, in the table or in JSON.
func TestScanSanitisesStrings(t *testing.T) {
	defer goleak.VerifyNone(t)
	tg, err := target.New(target.Config{Namespaces: 2, Model: "Evil\x1b]0;pwned\a\r\u009b2J", Serial: "SN\x9b\x7f\x1b[A", Firmware: "\x1bc"})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	addr, err := tg.Start(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"table", "json"} {
		out, stderr, err := run(t, "scan", "--addr", addr, "--nqn", tg.NQN(), "-o", format)
		if err != nil {
			t.Fatalf("%s: %v\n%s", format, err, stderr)
		}
		for name, s := range map[string]string{"stdout": out, "stderr": stderr} {
			if bad, ok := safeForTerminal(s); !ok {
				t.Errorf("%s %s holds %q raw:\n%s", format, name, bad, s)
			}
		}
		if format == "table" && !strings.Contains(out, `Evil\x1b]0;pwned\x07\x0d\u009b2J`) {
			t.Errorf("table lacks the escaped model:\n%s", out)
		}
		if format == "json" {
			var doc struct {
				Devices []struct{ ModelNumber, SerialNumber string }
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Devices) != 2 || doc.Devices[0].ModelNumber != "Evil\x1b]0;pwned\a\r\u009b2J" {
				t.Errorf("JSON does not decode to the model: %v %+v", err, doc)
			}
		}
	}
}

func TestSCSISanitisesStrings(t *testing.T) {
	devs := []*scsi.Device{{Type: scsi.TypeDisk, Vendor: "V\x1b[2J", Product: "P\a\r", Revision: "\x9b1", Serial: "S\x07", Name: "sda",
		Capacity: scsi.Capacity{LastLBA: 7, BlockSize: 512}}}
	var table, js bytes.Buffer
	if err := printLsscsi(&table, devs); err != nil {
		t.Fatal(err)
	}
	if err := printSCSIJSON(&js, devs); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{table.String(), js.String()} {
		if bad, ok := safeForTerminal(s); !ok {
			t.Errorf("output holds %q raw:\n%s", bad, s)
		}
	}
	if !strings.Contains(table.String(), `V\x1b[2J`) {
		t.Errorf("table lacks the escaped vendor:\n%s", table.String())
	}
	var doc struct {
		Devices []struct{ Vendor, Serial string }
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || doc.Devices[0].Vendor != "V\x1b[2J" || doc.Devices[0].Serial != "S\x07" {
		t.Errorf("JSON %v %+v", err, doc)
	}
}
