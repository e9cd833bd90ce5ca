package iscsi

import (
	"testing"

	"github.com/complchain/complchain/scsi"
)

// Data-Out PDUs for the TTT of an R2T beyond the data it asked for — sent
// with the last Data-Out of the burst, before the target deleted the TTT
// — may not leave the connection's reader waiting for a collector that
// has returned: the connection ends and Close returns (goleak checks the
// goroutines).
func TestDataOutAfterCollector(t *testing.T) {
	for i := range 20 {
		tg, addr := startTarget(t, TargetConfig{Hosts: []*scsi.Host{{LUNs: 1}}})
		c, sn := rawSession(t, addr)
		c.Write(rawCommand(1, sn, []byte{0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, FlagWrite, 512))
		r, err := ReadPDU(c, Limits{})
		if err != nil || r.BHS.Opcode() != OpR2T {
			t.Fatalf("run %d: R2T: %v, %v", i, r, err)
		}
		var b []byte
		for sn := range uint32(64) {
			p := &PDU{Data: make([]byte, 512)}
			p.BHS.SetOpcode(OpDataOut, false)
			p.BHS[1] = FlagFinal
			p.BHS.PutU32(offITT, 1)
			p.BHS.PutU32(offTTT, r.BHS.U32(offTTT))
			p.BHS.PutU32(offDataSN, sn)
			b = AppendPDU(b, p, Limits{})
		}
		c.Write(b)
		for {
			if _, err := ReadPDU(c, Limits{}); err != nil {
				break // the connection ended
			}
		}
		tg.Close()
	}
}

// A Logout while a write waits for its Data-Out may not wait for that
// data: the reader that would take it is the one handling the Logout.
// The connection ends (or the Logout is answered) and Close returns.
func TestLogoutDuringWrite(t *testing.T) {
	for _, immediate := range []bool{true, false} {
		tg, addr := startTarget(t, TargetConfig{Hosts: []*scsi.Host{{LUNs: 1}}})
		c, sn := rawSession(t, addr)
		c.Write(rawCommand(1, sn, []byte{0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, FlagWrite, 512))
		r, err := ReadPDU(c, Limits{})
		if err != nil || r.BHS.Opcode() != OpR2T {
			t.Fatalf("R2T: %v, %v", r, err)
		}
		p := &PDU{}
		p.BHS.SetOpcode(OpLogoutReq, immediate)
		p.BHS[1] = FlagFinal
		p.BHS.PutU32(offITT, 2)
		p.BHS.PutU32(offCmdSN, sn+1)
		c.Write(AppendPDU(nil, p, Limits{}))
		for {
			p, err := ReadPDU(c, Limits{})
			if err != nil || p.BHS.Opcode() == OpLogoutResp {
				break
			}
		}
		tg.Close()
	}
}
