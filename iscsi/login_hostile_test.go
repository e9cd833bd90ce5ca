package iscsi

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
)

// loginTarget answers every Login Request with answer(req) and every
// Text Request of a discovery session with text(req), until the
// connection ends.
func loginTarget(t *testing.T, answer func(req *PDU) *PDU, text func(req *PDU) *PDU) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for statSN := uint32(1); ; statSN++ {
			req, err := ReadPDU(c, Limits{MaxRecvDataSegmentLength: MaxDataSegment})
			if err != nil {
				return
			}
			var r *PDU
			switch req.BHS.Opcode() {
			case OpLoginReq:
				r = answer(req)
			case OpTextReq:
				r = text(req)
			default:
				return
			}
			r.BHS.PutU32(offITT, req.BHS.ITT())
			r.BHS.PutU32(offCmdSN, statSN)
			r.BHS.PutU32(offExpStatSN, req.BHS.U32(offCmdSN)+1)
			r.BHS.PutU32(offMaxCmdSN, req.BHS.U32(offCmdSN)+8)
			if _, err := c.Write(AppendPDU(nil, r, Limits{})); err != nil {
				return
			}
		}
	}()
	return ln.Addr().String()
}

// loginResp answers req in its stage, with flags (T, C, NSG) and text.
func loginResp(req *PDU, flags byte, text string) *PDU {
	r := &PDU{Data: []byte(text)}
	r.BHS.SetOpcode(OpLoginResp, false)
	r.BHS[1] = req.BHS[1]&0x0c | flags
	binary.BigEndian.PutUint16(r.BHS[14:], 1)
	return r
}

// A target whose login text never ends — Login Responses with the C bit
// and nothing or a few bytes in each — is given up after a bounded
// number of PDUs with a *ProtocolError, also without a deadline.
func TestEndlessLoginText(t *testing.T) {
	tests := []struct {
		name string
		text string
	}{
		{"empty", ""},
		{"a byte each", "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := loginTarget(t, func(req *PDU) *PDU { return loginResp(req, FlagContinue, tt.text) }, nil)
			_, err := Dial(context.Background(), addr, Config{TargetName: "iqn.x"})
			var pe *ProtocolError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), "login text not ended") {
				t.Fatalf("Dial: %v, want a *ProtocolError", err)
			}
		})
	}
}
