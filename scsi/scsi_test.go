package scsi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/scanmode"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDiskName(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "sda"}, {1, "sdb"}, {25, "sdz"}, {26, "sdaa"}, {27, "sdab"}, {51, "sdaz"}, {52, "sdba"},
		{701, "sdzz"}, {702, "sdaaa"}, {18277, "sdzzz"}, {18278, "sdaaaa"},
		{math.MaxInt32, "sdfxshrxx"}, {math.MaxInt64, "sdcrpxnlskvljfhh"},
	}
	for _, tt := range tests {
		if got := DiskName(tt.n); got != tt.want {
			t.Errorf("DiskName(%d) = %q, want %q", tt.n, got, tt.want)
		}
		if got := DiskIndex(tt.want); got != tt.n {
			t.Errorf("DiskIndex(%q) = %d, want %d", tt.want, got, tt.n)
		}
	}
	for n := range 20000 {
		if DiskIndex(DiskName(n)) != n {
			t.Fatalf("DiskIndex(DiskName(%d)) = %d", n, DiskIndex(DiskName(n)))
		}
	}
	// Every length, at its first and last index, and the 14-letter names
	// up to math.MaxInt64.
	var edges []int
	for first, k := 0, 1; k <= 13; k++ {
		edges = append(edges, first, first-1)
		first = first*26 + 26
	}
	edges = append(edges, 2580398988131886038, 2580398988131886039, math.MaxInt64-1, math.MaxInt64)
	for range 1000 {
		edges = append(edges, rand.IntN(math.MaxInt64))
	}
	for _, n := range edges {
		if n >= 0 && DiskIndex(DiskName(n)) != n {
			t.Errorf("DiskIndex(DiskName(%d)) = %d", n, DiskIndex(DiskName(n)))
		}
	}
	for _, bad := range []string{"sd", "sda1", "sdA", "hda", "sdcrpxnlskvljfhi", "sdzzzzzzzzzzzzzz", "sdaaaaaaaaaaaaaaa", "sd\xff"} {
		if got := DiskIndex(bad); got != -1 {
			t.Errorf("DiskIndex(%q) = %d, want -1", bad, got)
		}
	}
}

func TestEncodings(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"INQUIRY", InquiryCDB(false, 0, 36), []byte{0x12, 0, 0, 0, 36, 0}},
		{"INQUIRY VPD 80h", InquiryCDB(true, 0x80, 255), []byte{0x12, 1, 0x80, 0, 255, 0}},
		{"REPORT LUNS", ReportLUNsCDB(0x1008), []byte{0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x08, 0, 0}},
		{"READ CAPACITY(16)", ReadCapacity16CDB(32), []byte{0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}},
		{"LUN 5", func() []byte { b := EncodeLUN(5); return b[:] }(), []byte{0, 5, 0, 0, 0, 0, 0, 0}},
		{"LUN 300", func() []byte { b := EncodeLUN(300); return b[:] }(), []byte{0x41, 0x2c, 0, 0, 0, 0, 0, 0}},
		{"REPORT LUNS data", AppendReportLUNs(nil, []uint16{0, 1}), []byte{0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"capacity", AppendCapacity16(nil, Capacity{LastLBA: 0x7fff, BlockSize: 512})[:12], []byte{0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0, 0, 2, 0}},
		{"sense", AppendSense(nil, SenseError{Key: 5, ASC: 0x24}), []byte{0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s: % x, want % x", tt.name, tt.got, tt.want)
		}
	}
	q := Inquiry{Type: TypeDisk, Version: 7, Vendor: "Linux", Product: "scsi_debug", Revision: "0191"}
	b := AppendInquiry(nil, q)
	if len(b) != 36 || b[0] != 0 || string(b[8:16]) != "Linux   " || string(b[16:32]) != "scsi_debug      " || string(b[32:36]) != "0191" {
		t.Fatalf("INQUIRY data % x", b)
	}
	if got, err := ParseInquiry(b); err != nil || got != q {
		t.Fatalf("ParseInquiry = %+v, %v", got, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"short REPORT LUNS", func() error { _, err := ParseReportLUNs([]byte{0, 0, 0, 16, 0, 0, 0, 0, 0}); return err }()},
		{"short INQUIRY", func() error { _, err := ParseInquiry(make([]byte, 20)); return err }()},
		{"short capacity", func() error { _, err := ParseCapacity16(make([]byte, 8)); return err }()},
		{"short sense", func() error { _, err := ParseSense([]byte{0x70}); return err }()},
		{"VPD length", func() error { _, err := ParseSerialVPD([]byte{0, 0x80, 0, 40, 'x'}); return err }()},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, ErrShort) {
			t.Errorf("%s: %v, want ErrShort", tt.name, tt.err)
		}
	}
	if _, err := ParseReportLUNs([]byte{0, 0, 0, 3, 0, 0, 0, 0, 1, 2, 3}); err == nil {
		t.Error("list length 3 accepted")
	}
	if luns, err := ParseReportLUNs(make([]byte, 8)); err != nil || len(luns) != 0 {
		t.Errorf("empty LUN list: %v, %v", luns, err)
	}
}

func FuzzParsers(f *testing.F) {
	f.Add(AppendReportLUNs(nil, []uint16{0, 1, 300}))
	f.Add(AppendInquiry(nil, Inquiry{Vendor: "Linux"}))
	f.Add(AppendSerialVPD(nil, 0, "SN1"))
	f.Add(AppendDeviceIDVPD(nil, 0, [8]byte{1}))
	f.Add(AppendCapacity16(nil, Capacity{LastLBA: 9, BlockSize: 4096}))
	f.Add(AppendSense(nil, SenseError{Key: 3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if luns, err := ParseReportLUNs(b); err == nil {
			if again, err := ParseReportLUNs(AppendReportLUNs(nil, luns)); err != nil || len(again) != len(luns) {
				t.Fatalf("REPORT LUNS round trip: %v %v", luns, err)
			}
		}
		if luns, _ := ParseReportLUNs(b); len(luns) > MaxLUNs || len(slices.Compact(slices.Sorted(slices.Values(luns)))) != len(luns) {
			t.Fatalf("REPORT LUNS: %d LUNs, duplicates or more than %d", len(luns), MaxLUNs)
		}
		ParseInquiry(b)
		ParseSerialVPD(b)
		ParseDeviceIDVPD(b)
		if c, err := ParseCapacity16(b); err == nil && (c.Bytes() < MinBlockSize || c.Bytes()/uint64(c.BlockSize) != c.LastLBA+1) {
			t.Fatalf("capacity %+v accepted: %d bytes", c, c.Bytes())
		}
		ParseSense(b)
		ByID(b, b, b)
	})
}

func host(latency time.Duration, luns int) *Host {
	return &Host{Targets: 2, LUNs: luns, Latency: latency, Vendor: "Linux", Product: "scsi_debug", Rev: "0191"}
}

// names returns "H:C:T:L=sdX" for every disk, in the order added.
func names(s *Scanner) []string {
	var out []string
	for _, d := range s.Devices() {
		out = append(out, d.Addr.String()+"="+d.Name)
	}
	return out
}

func expected(hosts, targets, luns int) []string {
	var out []string
	i := 0
	for h := range hosts {
		for tg := range targets {
			for l := range luns {
				out = append(out, fmt.Sprintf("%d:0:%d:%d=%s", h, tg, l, DiskName(i)))
				i++
			}
		}
	}
	return out
}

// Whatever each host's latency, an ordered scan names disks in host order;
// an async scan, with later hosts faster, does not.
func TestOrderedNamesWhateverTheLatencies(t *testing.T) {
	for round := range 6 {
		synctest.Test(t, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(round), 9))
			for _, mode := range []scanmode.Mode{scanmode.Ordered, scanmode.Async, scanmode.Sync} {
				s := &Scanner{Mode: mode}
				for h := range 8 {
					lat := time.Duration(rng.IntN(10)+1) * time.Millisecond
					if round == 0 {
						lat = time.Duration(8-h) * time.Millisecond // adversarial: later hosts finish first
					}
					s.AddHost(context.Background(), host(lat, 3))
				}
				if err := s.WaitScans(context.Background()); err != nil {
					t.Fatal(err)
				}
				s.Close()
				got, want := fmt.Sprint(names(s)), fmt.Sprint(expected(8, 2, 3))
				if mode != scanmode.Async && got != want {
					t.Fatalf("round %d %v: %s\nwant %s", round, mode, got, want)
				}
				if mode == scanmode.Async && round == 0 && got == want {
					t.Fatalf("async scan named in host order although later hosts finished first")
				}
			}
		})
	}
}

// A host added while others are scanning is named after them.
func TestHotAddedHost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Scanner{}
		s.AddHost(context.Background(), host(20*time.Millisecond, 2))
		s.AddHost(context.Background(), host(10*time.Millisecond, 2))
		time.Sleep(5 * time.Millisecond) // the first two are mid-scan
		s.AddHost(context.Background(), host(time.Millisecond, 2))
		if err := s.WaitScans(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got, want := fmt.Sprint(names(s)), fmt.Sprint(expected(3, 2, 2)); got != want {
			t.Fatalf("%s\nwant %s", got, want)
		}
	})
}

// A failing LUN is reported and skipped; a hung host is given up after the
// timeout and the hosts after it are named; a malformed response is a
// typed error naming the command and the host.
func TestFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Scanner{Timeout: time.Second}
		bad := host(time.Millisecond, 2)
		bad.Fail = map[Addr]SenseError{{Target: 1, LUN: 0}: {Key: SenseMediumError, ASC: 0x11}}
		s.AddHost(context.Background(), bad)
		s.AddHost(context.Background(), &Host{Hang: true})
		s.AddHost(context.Background(), &Host{Corrupt: true, Latency: time.Millisecond})
		s.AddHost(context.Background(), host(time.Millisecond, 1))
		start := time.Now()
		if err := s.WaitScans(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if el := time.Since(start); el != time.Second {
			t.Fatalf("scans took %v, want the 1s timeout of the hung host", el)
		}
		want := []string{"0:0:0:0=sda", "0:0:0:1=sdb", "0:0:1:1=sdc", "3:0:0:0=sdd", "3:0:1:0=sde"}
		if got := names(s); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("names %v, want %v", got, want)
		}
		errs := s.Errors()
		if len(errs) != 3 {
			t.Fatalf("errors %v, want 3", errs)
		}
		var ce *CommandError
		var sense *SenseError
		if !errors.As(errs[0], &ce) || ce.Addr != (Addr{0, 0, 1, 0}) || !errors.As(errs[0], &sense) || sense.Key != SenseMediumError {
			t.Errorf("failing LUN: %v", errs[0])
		}
		if !errors.As(errs[1], &ce) || ce.Addr.Host != 1 || !errors.Is(errs[1], context.DeadlineExceeded) {
			t.Errorf("hung host: %v", errs[1])
		}
		if !errors.As(errs[2], &ce) || ce.Addr.Host != 2 || ce.Command != "INQUIRY" || !errors.Is(errs[2], ErrShort) {
			t.Errorf("corrupt host: %v", errs[2])
		}
	})
}

// WaitScans returns once the hosts added before it are done, while new
// scans keep starting.
func TestWaitScansRacingNewScans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Scanner{}
		for range 4 {
			s.AddHost(context.Background(), host(3*time.Millisecond, 1))
		}
		done := make(chan int)
		go func() {
			s.WaitScans(context.Background())
			done <- len(s.Devices())
		}()
		for range 4 {
			s.AddHost(context.Background(), host(50*time.Millisecond, 1))
		}
		if n := <-done; n < 8 {
			t.Fatalf("WaitScans returned with %d devices, want at least the first 4 hosts' 8", n)
		}
		s.WaitScans(context.Background())
		s.Close()
		if len(s.Devices()) != 16 {
			t.Fatalf("%d devices, want 16", len(s.Devices()))
		}
	})
}
