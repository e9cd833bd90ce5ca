package iscsi

import (
	"net"
	"testing"
	"time"

	"github.com/complchain/complchain/scsi"
)

// The target pings a session with NOP-In and drops it when a ping goes
// unanswered for NOPInTimeout; a NOP-Out echoing the TTT keeps it.
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

// The initiator answers a target's ping at once with a NOP-Out echoing
// its TTT and LUN, while a command is in flight: the fake target answers
// the command only after the answer to its ping.
func TestInitiatorAnswersPings(t *testing.T) {
	var cmd *PDU
	addr := fakeTarget(t, func(p *PDU) [][]byte {
		switch {
		case p.BHS.Opcode() == OpSCSICommand:
			cmd = p
			ping := &PDU{Data: []byte("are you there")}
			ping.BHS.SetOpcode(OpNOPIn, false)
			ping.BHS[1] = FlagFinal
			ping.BHS.SetLUN(scsi.EncodeLUN(3))
			ping.BHS.PutU32(offITT, ReservedTag)
			ping.BHS.PutU32(offTTT, 7)
			ping.BHS.PutU32(offExpStatSN, 2)
			ping.BHS.PutU32(offMaxCmdSN, 9)
			return [][]byte{AppendPDU(nil, ping, Limits{})}
		case p.BHS.Opcode() == OpNOPOut && p.BHS.ITT() == ReservedTag && p.BHS.U32(offTTT) == 7 &&
			p.BHS.LUN() == scsi.EncodeLUN(3) && string(p.Data) == "are you there" && p.BHS.Immediate():
			return [][]byte{targetPDU(cmd, OpSCSIResponse, FlagFinal, nil, nil)}
		}
		return [][]byte{targetPDU(p, OpReject, FlagFinal, func(h *BHS) { h[2] = rejectProtocol; h.PutU32(offITT, ReservedTag) }, cmd.BHS[:])}
	})
	s, err := Dial(t.Context(), addr, Config{TargetName: "iqn.x"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Command(t.Context(), scsi.Addr{}, scsi.TestUnitReadyCDB()); err != nil {
		t.Fatal(err)
	}
}
