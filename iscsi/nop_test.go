package iscsi

import (
	"net"
	"testing"
	"time"

	"github.com/complchain/complchain/scsi"
)

// The target pings an idle session with NOP-In and drops it when a ping
// goes unanswered; a NOP-Out echoing the TTT keeps it.
func TestTargetPing(t *testing.T) {
	_, addr := startTarget(t, TargetConfig{Hosts: []*scsi.Host{{}}, NOPInInterval: 10 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	login := &PDU{Data: AppendText(nil, Pair{"InitiatorName", "iqn.x"}, Pair{"TargetName", DefaultNamePrefix + "0"}, Pair{"AuthMethod", "None"})}
	login.BHS.SetOpcode(OpLoginReq, true)
	login.BHS[1] = FlagTransit | StageSecurity<<2 | StageFullFeature
	c.Write(AppendPDU(nil, login, Limits{}))
	read := func() *PDU {
		t.Helper()
		p, err := ReadPDU(c, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := read(); p.BHS.Opcode() != OpLoginResp || p.BHS[36] != 0 || p.BHS[1]&3 != StageFullFeature {
		t.Fatalf("login: %v status %#x flags %#x", p.BHS.Opcode(), p.BHS[36], p.BHS[1])
	}
	var last uint32
	for range 3 {
		p := read()
		if p.BHS.Opcode() != OpNOPIn || p.BHS.ITT() != ReservedTag || p.BHS.U32(offTTT) == ReservedTag || p.BHS.U32(offTTT) == last {
			t.Fatalf("%v ITT %#x TTT %#x", p.BHS.Opcode(), p.BHS.ITT(), p.BHS.U32(offTTT))
		}
		last = p.BHS.U32(offTTT)
		pong := &PDU{}
		pong.BHS.SetOpcode(OpNOPOut, true)
		pong.BHS[1] = FlagFinal
		pong.BHS.PutU32(offITT, ReservedTag)
		pong.BHS.PutU32(offTTT, last)
		c.Write(AppendPDU(nil, pong, Limits{}))
	}
	if p := read(); p.BHS.Opcode() != OpNOPIn { // not answered
		t.Fatalf("%v", p.BHS.Opcode())
	}
	if p, err := ReadPDU(c, Limits{}); err == nil {
		t.Fatalf("session kept after an unanswered ping: %v", p.BHS.Opcode())
	}
}

// The initiator answers the target's pings: a session busy for many ping
// intervals stays up.
func TestInitiatorAnswersPings(t *testing.T) {
	_, addr := startTarget(t, TargetConfig{Hosts: []*scsi.Host{{Latency: 5 * time.Millisecond}}, NOPInInterval: 50 * time.Millisecond})
	s, err := Dial(t.Context(), addr, Config{TargetName: DefaultNamePrefix + "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 100 { // 500 ms: 10 pings
		if _, err := s.Command(t.Context(), scsi.Addr{}, scsi.TestUnitReadyCDB()); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
}
