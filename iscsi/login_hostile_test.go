package iscsi

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/complchain/complchain/internal/peertest"
)

// loginTarget answers every Login Request with answer(req) and every
// Text Request of a discovery session with text(req), until the
// connection ends.
func loginTarget(t *testing.T, answer func(req *PDU) *PDU, text func(req *PDU) *PDU) string {
	t.Helper()
	return peertest.ServeOne(t, func(c net.Conn) {
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
	})
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

// SendTargets names that are no iSCSI names — empty (which would make
// the next login a discovery session), longer than 223 bytes, or with
// control characters such as terminal escape sequences — are a
// *ProtocolError.
func TestSendTargetsNames(t *testing.T) {
	tests := []struct {
		name, text string
		bad        bool
	}{
		{"good", "TargetName=iqn.2003-01.org.linux-iscsi.x:sn.1\x00TargetAddress=127.0.0.1:3260,1\x00", false},
		{"empty name", "TargetName=\x00TargetAddress=127.0.0.1:3260,1\x00", true},
		{"escape sequence", "TargetName=iqn.x\x1b]0;pwned\x07\x00", true},
		{"newline", "TargetName=iqn.x\nhost 9: all good\x00", true},
		{"224 bytes", "TargetName=iqn." + strings.Repeat("x", 220) + "\x00", true},
		{"control in the address", "TargetName=iqn.x\x00TargetAddress=127.0.0.1\x1b[2J:3260,1\x00", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := loginTarget(t, func(req *PDU) *PDU {
				return loginResp(req, FlagTransit|req.BHS[1]&3, "") // to the stage asked for
			}, func(req *PDU) *PDU {
				r := &PDU{Data: []byte(tt.text)}
				r.BHS.SetOpcode(OpTextResp, false)
				r.BHS[1] = FlagFinal
				r.BHS.PutU32(offTTT, ReservedTag)
				return r
			})
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			found, err := Discover(ctx, addr, Config{})
			var pe *ProtocolError
			if got := errors.As(err, &pe); got != tt.bad {
				t.Fatalf("Discover: %q, %v; want a *ProtocolError: %v", found, err, tt.bad)
			}
		})
	}
}
