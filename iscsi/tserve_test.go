package iscsi

import (
	"net"
	"testing"
	"time"

	"github.com/complchain/complchain/scsi"
)

// rawSession logs in to target 0 at addr with raw PDUs (security stage
// straight to full feature phase, the defaults) and returns the
// connection and the next CmdSN.
func rawSession(t *testing.T, addr string) (net.Conn, uint32) {
	t.Helper()
	return loggedIn(t, addr, Pair{"TargetName", DefaultNamePrefix + "0"})
}

// loggedIn logs in to addr with raw PDUs, declaring session, beside the
// initiator name and no authentication, and returns the connection and
// the next CmdSN.
func loggedIn(t *testing.T, addr string, session Pair) (net.Conn, uint32) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	login := &PDU{Data: AppendText(nil, Pair{"InitiatorName", "iqn.x"}, session, Pair{"AuthMethod", "None"})}
	login.BHS.SetOpcode(OpLoginReq, true)
	login.BHS[1] = FlagTransit | StageSecurity<<2 | StageFullFeature
	login.BHS.PutU32(offCmdSN, 10)
	c.Write(AppendPDU(nil, login, Limits{}))
	p, err := ReadPDU(c, Limits{})
	if err != nil || p.BHS[36] != 0 {
		t.Fatalf("login: %v", err)
	}
	return c, 10
}

func rawCommand(itt, cmdSN uint32, cdb []byte, flags byte, edtl uint32) []byte {
	p := &PDU{}
	p.BHS.SetOpcode(OpSCSICommand, false)
	p.BHS[1] = FlagFinal | flags
	p.BHS.PutU32(offITT, itt)
	p.BHS.PutU32(offTTT, edtl)
	p.BHS.PutU32(offCmdSN, cmdSN)
	copy(p.BHS[32:], cdb)
	return AppendPDU(nil, p, Limits{})
}

// A hostile initiator in full feature phase: a command beyond the CmdSN
// window is ignored (RFC 7143 §4.2.2.1) and the next in it answered; a
// gap in CmdSN, Data-Out for no R2T, unsolicited data and an undefined
// opcode end the connection; a command with an unusable LUN or a write
// too long for the target ends in CHECK CONDITION.
func TestHostileInitiator(t *testing.T) {
	_, addr := startTarget(t, TargetConfig{Hosts: []*scsi.Host{{LUNs: 1}}, QueueDepth: 4, MaxWriteLength: 4096})
	inquiry := scsi.InquiryCDB(false, 0, 36)
	dataOut := func(ttt uint32) []byte {
		p := &PDU{Data: make([]byte, 16)}
		p.BHS.SetOpcode(OpDataOut, false)
		p.BHS[1] = FlagFinal
		p.BHS.PutU32(offITT, 1)
		p.BHS.PutU32(offTTT, ttt)
		return AppendPDU(nil, p, Limits{})
	}
	tests := []struct {
		name   string
		send   func(sn uint32) [][]byte
		closed bool
		answer func(p *PDU) bool // of the first answer, if not closed
	}{
		{"beyond the window, then in it", func(sn uint32) [][]byte {
			return [][]byte{rawCommand(1, sn+100, inquiry, FlagRead, 36), rawCommand(2, sn, inquiry, FlagRead, 36)}
		}, false, func(p *PDU) bool { return p.BHS.ITT() == 2 && p.BHS.Opcode() == OpDataIn && p.BHS[1]&FlagStatus != 0 }},
		{"CmdSN gap", func(sn uint32) [][]byte { return [][]byte{rawCommand(1, sn+1, inquiry, FlagRead, 36)} }, true, nil},
		{"Data-Out for no R2T", func(sn uint32) [][]byte { return [][]byte{dataOut(77)} }, true, nil},
		{"unsolicited Data-Out", func(sn uint32) [][]byte {
			b := rawCommand(1, sn, []byte{0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, FlagWrite, 512)
			b[1] &^= FlagFinal // more data follows unsolicited: InitialR2T is Yes
			return [][]byte{b}
		}, true, nil},
		{"undefined opcode", func(sn uint32) [][]byte {
			b := rawCommand(1, sn, inquiry, 0, 0)
			b[0] = 0x1d
			return [][]byte{b}
		}, true, nil},
		{"LUN of extended addressing", func(sn uint32) [][]byte {
			b := rawCommand(1, sn, inquiry, FlagRead, 36)
			b[8] = 0xc0
			return [][]byte{b}
		}, false, func(p *PDU) bool { return p.BHS.Opcode() == OpSCSIResponse && p.BHS[3] == scsi.StatusCheckCondition }},
		{"write longer than MaxWriteLength", func(sn uint32) [][]byte {
			return [][]byte{rawCommand(1, sn, []byte{0x2a, 0, 0, 0, 0, 0, 0, 0, 16, 0}, FlagWrite, 8192)}
		}, false, func(p *PDU) bool { return p.BHS.Opcode() == OpSCSIResponse && p.BHS[3] == scsi.StatusCheckCondition }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, sn := rawSession(t, addr)
			for _, b := range tt.send(sn) {
				c.Write(b)
			}
			p, err := ReadPDU(c, Limits{MaxRecvDataSegmentLength: MaxDataSegment})
			if tt.closed {
				for err == nil && p.BHS.Opcode() == OpReject { // a Reject may come first
					p, err = ReadPDU(c, Limits{MaxRecvDataSegmentLength: MaxDataSegment})
				}
				if err == nil {
					t.Fatalf("connection kept: %v", p.BHS.Opcode())
				}
				return
			}
			if err != nil || !tt.answer(p) {
				t.Fatalf("answer %v, %v", p, err)
			}
		})
	}
}
