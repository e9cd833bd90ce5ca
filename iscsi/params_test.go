package iscsi

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/complchain/complchain/scsi"
)

// Each key's result function (RFC 7143 §6.2, §13): what a responder
// answers and what an originator accepts.
func TestNegotiation(t *testing.T) {
	tests := []struct {
		key, offer string
		own        func(*Params)
		answer     string
		acceptErr  bool // the answer, checked by an originator that offered offer
	}{
		{"MaxBurstLength", "262144", func(p *Params) { p.MaxBurstLength = 65536 }, "65536", false},
		{"FirstBurstLength", "1024", nil, "1024", false},
		{"DefaultTime2Wait", "0", func(p *Params) { p.DefaultTime2Wait = 2 }, "2", true},
		{"InitialR2T", "No", nil, "Yes", true},
		{"ImmediateData", "Yes", func(p *Params) { p.ImmediateData = false }, "No", false},
		{"DataPDUInOrder", "No", func(p *Params) { p.DataPDUInOrder = false }, "No", false},
		{"HeaderDigest", "CRC32C,None", func(p *Params) { p.HeaderDigest = true }, "CRC32C", false},
		{"HeaderDigest", "CRC32C,None", nil, "None", false},
		{"DataDigest", "CRC32C", nil, "Reject", false},
		{"MaxConnections", "0", nil, "Reject", false},
		{"ErrorRecoveryLevel", "2", nil, "0", false},
		{"X-Vendor-Key", "1", nil, "NotUnderstood", true},
		{"MaxOutstandingR2T", "99999999999", nil, "Reject", false},
	}
	for _, tt := range tests {
		own := DefaultParams()
		if tt.own != nil {
			tt.own(&own)
		}
		neg := DefaultParams()
		a, err := Respond(&neg, &own, tt.key, tt.offer, false)
		if err != nil || a.Value != tt.answer {
			t.Errorf("%s=%s: answer %q, %v; want %q", tt.key, tt.offer, a.Value, err, tt.answer)
		}
	}
	// An originator refuses answers its offer does not allow.
	refused := []struct{ key, answer string }{
		{"MaxBurstLength", "300000"}, {"DefaultTime2Wait", "1"}, {"InitialR2T", "No"},
		{"HeaderDigest", "CRC32C"}, {"MaxRecvDataSegmentLength", "100"}, {"ImmediateData", "Maybe"},
	}
	for _, r := range refused {
		own, neg := DefaultParams(), DefaultParams()
		if err := Accept(&neg, &own, r.key, r.answer); err == nil {
			t.Errorf("%s=%s accepted", r.key, r.answer)
		}
	}
}

// CHAP, digests and small data segments end to end: the scan is the
// same, and commands with more data than a segment span several Data-In
// PDUs.
func TestSessionOptions(t *testing.T) {
	chap := &CHAP{Name: "initiator", Secret: "twelve bytes secret"}
	small := DefaultParams()
	small.MaxRecvDataSegmentLength = 512
	small.HeaderDigest, small.DataDigest = true, true
	tg, addr := startTarget(t, TargetConfig{Hosts: emulated(2, 40), CHAP: chap, Params: small, NOPInInterval: 0})
	_ = tg
	s, err := Dial(t.Context(), addr, Config{TargetName: DefaultNamePrefix + "1", CHAP: chap, Params: small})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p := s.Params(); !p.HeaderDigest || !p.DataDigest || p.MaxXmitDataSegmentLength != 512 {
		t.Fatalf("negotiated %+v", p)
	}
	r, err := s.Command(t.Context(), scsi.Addr{}, scsi.ReportLUNsCDB(4096))
	if err != nil {
		t.Fatal(err)
	}
	luns, err := scsi.ParseReportLUNs(r.Data)
	if err != nil || len(luns) != 40 {
		t.Fatalf("REPORT LUNS over 512-byte segments: %d LUNs, %v", len(luns), err)
	}
	if err := s.Ping(t.Context(), []byte("ping")); err != nil {
		t.Fatal(err)
	}
	// A write: immediate data, then R2T and Data-Out; the emulated host
	// refuses WRITE(10) after taking the data.
	cdb := []byte{0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0}
	r, err = s.Execute(t.Context(), scsi.EncodeLUN(0), cdb, make([]byte, 4096), 0)
	if err != nil || r.Status != scsi.StatusCheckCondition {
		t.Fatalf("WRITE(10): %+v, %v", r, err)
	}
	if err := s.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Every non-immediate request the target answers opens its CmdSN window
// again, not only SCSI commands: many more text requests and pings than
// the window holds all get answers.
func TestWindowMovesForEveryCommand(t *testing.T) {
	_, addr := startTarget(t, TargetConfig{Hosts: emulated(3, 1), QueueDepth: 2})
	s, err := Dial(t.Context(), addr, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 20 {
		targets, err := s.SendTargets(t.Context())
		if err != nil || len(targets) != 3 {
			t.Fatalf("SendTargets %d: %v, %v", i, targets, err)
		}
	}
	n, err := Dial(t.Context(), addr, Config{TargetName: DefaultNamePrefix + "2"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for i := range 20 {
		if _, err := n.Command(t.Context(), scsi.Addr{}, scsi.TestUnitReadyCDB()); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
		// In a normal session SendTargets with no value names the
		// session's own target (RFC 7143 §12.3).
		pairs, err := n.Text(t.Context(), []Pair{{"SendTargets", ""}})
		if err != nil || len(pairs) != 2 || pairs[0] != (Pair{"TargetName", DefaultNamePrefix + "2"}) {
			t.Fatalf("SendTargets in a normal session: %v, %v", pairs, err)
		}
	}
}

// A session carries several commands at once: the host sees all of them
// in flight together (each waits for the last to arrive), within the
// target's window and the initiator's queue depth.
func TestCommandsInFlight(t *testing.T) {
	const n = 24
	var (
		mu      sync.Mutex
		arrived int
		all     = make(chan struct{})
	)
	host := &scsi.Host{LUNs: 1, Respond: func(a scsi.Addr, cdb []byte, r scsi.Response) scsi.Response {
		mu.Lock()
		arrived++
		if arrived == n {
			close(all)
		}
		mu.Unlock()
		<-all
		return r
	}}
	_, addr := startTarget(t, TargetConfig{Hosts: []*scsi.Host{host}, QueueDepth: n})
	s, err := Dial(t.Context(), addr, Config{TargetName: DefaultNamePrefix + "0", QueueDepth: n})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := s.Command(ctx, scsi.Addr{}, scsi.InquiryCDB(false, 0, 36))
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
