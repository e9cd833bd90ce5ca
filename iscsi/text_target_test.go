package iscsi

import (
	"bytes"
	"net"
	"testing"
)

// rawDiscovery logs in to a discovery session at addr with raw PDUs and
// returns the connection and the next CmdSN.
func rawDiscovery(t *testing.T, addr string) (net.Conn, uint32) {
	t.Helper()
	return loggedIn(t, addr, Pair{"SessionType", "Discovery"})
}

// A Text Request's answer is bounded by the request, not multiplied by
// it: SendTargets asked more than once in one request is rejected
// (Reject, Invalid PDU Field) instead of listing every target once per
// key, and the session goes on.
func TestSendTargetsAmplification(t *testing.T) {
	_, addr := startTarget(t, TargetConfig{Hosts: emulated(64, 1)})
	tests := []struct {
		name   string
		keys   int
		reject bool
	}{
		{"once", 1, false},
		{"twice", 2, true},
		{"thousands of times", 4000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, sn := rawDiscovery(t, addr)
			req := &PDU{Data: bytes.Repeat([]byte("SendTargets=All\x00"), tt.keys)}
			req.BHS.SetOpcode(OpTextReq, false)
			req.BHS[1] = FlagFinal
			req.BHS.PutU32(offITT, 1)
			req.BHS.PutU32(offTTT, ReservedTag)
			req.BHS.PutU32(offCmdSN, sn)
			c.Write(AppendPDU(nil, req, Limits{}))
			p, err := ReadPDU(c, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.BHS.Opcode() == OpReject && p.BHS[2] == rejectInvalidField; got != tt.reject {
				t.Fatalf("answer %v reason %#x, want a Reject: %v", p.BHS.Opcode(), p.BHS[2], tt.reject)
			}
			// The session still answers.
			ping := &PDU{}
			ping.BHS.SetOpcode(OpNOPOut, true)
			ping.BHS[1] = FlagFinal
			ping.BHS.PutU32(offITT, 2)
			ping.BHS.PutU32(offTTT, ReservedTag)
			ping.BHS.PutU32(offCmdSN, sn+1)
			c.Write(AppendPDU(nil, ping, Limits{}))
			for {
				p, err := ReadPDU(c, Limits{})
				if err != nil {
					t.Fatalf("no answer to a ping: %v", err)
				}
				if p.BHS.Opcode() == OpNOPIn && p.BHS.ITT() == 2 {
					break
				}
			}
		})
	}
}
