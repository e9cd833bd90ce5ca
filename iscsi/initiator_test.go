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
	"github.com/complchain/complchain/scsi"
)

// fakeTarget accepts one connection, logs the initiator in with the
// defaults (no keys answered), reads one SCSI Command and answers it with
// what answer returns, raw (a nil slice closes the connection). It returns the portal's address.
func fakeTarget(t *testing.T, answer func(cmd *PDU) [][]byte) string {
	t.Helper()
	return peertest.ServeOne(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		statSN := uint32(100)
		for {
			p, err := ReadPDU(c, Limits{MaxRecvDataSegmentLength: MaxDataSegment})
			if err != nil {
				return
			}
			if p.BHS.Opcode() == OpLoginReq {
				r := &PDU{}
				r.BHS.SetOpcode(OpLoginResp, false)
				r.BHS[1] = p.BHS[1]
				binary.BigEndian.PutUint16(r.BHS[14:], 1)
				r.BHS.PutU32(offITT, p.BHS.ITT())
				r.BHS.PutU32(offCmdSN, statSN)
				r.BHS.PutU32(offExpStatSN, 1)
				r.BHS.PutU32(offMaxCmdSN, 8)
				statSN++
				c.Write(AppendPDU(nil, r, Limits{}))
				continue
			}
			for _, b := range answer(p) {
				if b == nil {
					return // a nil answer closes the connection
				}
				if _, err := c.Write(b); err != nil {
					return
				}
			}
		}
	})
}

// targetPDU builds a target PDU answering cmd.
func targetPDU(cmd *PDU, op Opcode, flags byte, set func(h *BHS), data []byte) []byte {
	p := &PDU{Data: data}
	p.BHS.SetOpcode(op, false)
	p.BHS[1] = flags
	p.BHS.PutU32(offITT, cmd.BHS.ITT())
	p.BHS.PutU32(offTTT, ReservedTag)
	p.BHS.PutU32(offExpStatSN, cmd.BHS.U32(offCmdSN)+1)
	p.BHS.PutU32(offMaxCmdSN, cmd.BHS.U32(offCmdSN)+8)
	if set != nil {
		set(&p.BHS)
	}
	return AppendPDU(nil, p, Limits{})
}

// A target answering nonsense ends the session with a *ProtocolError
// naming what was wrong; the command fails at once, without waiting for
// a time-out, and the session's goroutines end.
func TestHostileTargetPDUs(t *testing.T) {
	status := func(h *BHS) {}
	tests := []struct {
		name   string
		answer func(cmd *PDU) [][]byte
		want   string
	}{
		{"Data-In beyond the buffer", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpDataIn, FlagFinal|FlagStatus, status, make([]byte, 200))}
		}, "200 bytes at offset 0 beyond the 36 expected"},
		{"Data-In at an offset out of order", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpDataIn, 0, func(h *BHS) { h.PutU32(offOffset, 8) }, make([]byte, 4))}
		}, "offset 8, expected 0"},
		{"Data-In with a DataSN out of order", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpDataIn, 0, func(h *BHS) { h.PutU32(offDataSN, 3) }, make([]byte, 4))}
		}, "DataSN 3, expected 0"},
		{"answer to an ITT never sent", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpSCSIResponse, FlagFinal, func(h *BHS) { h.PutU32(offITT, 0x5555) }, nil)}
		}, "ITT 0x5555 of no task in flight"},
		{"Text Response to a SCSI Command", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpTextResp, FlagFinal, nil, nil)}
		}, "for a SCSI Command"},
		{"NOP-In to a SCSI Command", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpNOPIn, FlagFinal, nil, nil)}
		}, "for a SCSI Command"},
		{"Logout Response to a SCSI Command", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpLogoutResp, FlagFinal, nil, nil)}
		}, "for a SCSI Command"},
		{"SenseLength beyond the data", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpSCSIResponse, FlagFinal, func(h *BHS) { h[3] = 2 }, []byte{0, 200, 0x70, 0})}
		}, "SenseLength 200, 2 bytes of sense data"},
		{"R2T for a read", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpR2T, FlagFinal, func(h *BHS) { h.PutU32(offResidual, 512) }, nil)}
		}, "for 512 bytes at offset 0 of a 0-byte write"},
		{"an initiator opcode", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpSCSICommand, FlagFinal, nil, nil)}
		}, "sent by a target"},
		{"a login response in full feature phase", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpLoginResp, FlagFinal, nil, nil)}
		}, "not expected in full feature phase"},
		{"data segment above MaxRecvDataSegmentLength", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpDataIn, 0, nil, make([]byte, 300000))}
		}, "DataSegmentLength 300000 above MaxRecvDataSegmentLength 262144"},
		{"undefined opcode", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, Opcode(0x3a), 0, nil, nil)}
		}, "opcode 0x3a: opcode not defined by RFC 7143"},
		{"connection closed mid-PDU", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpDataIn, 0, nil, make([]byte, 36))[:60]}
		}, "closed"},
		{"reject", func(c *PDU) [][]byte {
			return [][]byte{targetPDU(c, OpReject, FlagFinal, func(h *BHS) { h[2] = rejectProtocol; h.PutU32(offITT, ReservedTag) }, c.BHS[:])}
		}, "rejected by the target, reason 0x04"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeTarget(t, func(c *PDU) [][]byte {
				b := tt.answer(c)
				if tt.want == "closed" {
					return append(b, nil) // then the fake target closes the connection
				}
				return b
			})
			s, err := Dial(t.Context(), addr, Config{TargetName: "iqn.x"})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = s.Command(t.Context(), scsi.Addr{}, scsi.InquiryCDB(false, 0, 36))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one containing %q", err, tt.want)
			}
			if tt.name != "reject" && !errors.Is(err, ErrClosed) {
				t.Fatalf("err %v does not wrap ErrClosed", err)
			}
		})
	}
}

// Commands a target never answers stay counted against the queue depth
// after their callers gave up: the session holds at most QueueDepth of
// them, and later commands wait for a slot instead of piling up.
func TestAbandonedCommandsBounded(t *testing.T) {
	addr := fakeTarget(t, func(*PDU) [][]byte { return [][]byte{} })
	s, err := Dial(t.Context(), addr, Config{TargetName: "iqn.x", QueueDepth: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 5 {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		_, err := s.Command(ctx, scsi.Addr{}, scsi.TestUnitReadyCDB())
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
	}
	s.mu.Lock()
	n := len(s.tasks)
	s.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d tasks held, want the queue depth 2", n)
	}
}
