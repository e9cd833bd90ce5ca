package iscsi

import (
	"encoding/binary"
	"fmt"
)

// reader reads the target's PDUs in full feature phase and completes the
// tasks they answer, until the connection fails or a PDU breaks the
// protocol (which ends the session: ErrorRecoveryLevel 0).
func (s *Session) reader() {
	defer close(s.done)
	for {
		p, err := s.c.read()
		if err == nil {
			err = s.handle(p)
		}
		if err != nil {
			s.fail(err)
			return
		}
	}
}

// lookup returns the task of p's ITT, which must be an exchange started
// with a request of opcode req, or a *ProtocolError for a tag the
// session never sent (or whose answer already came) or that answers
// another kind of request.
func (s *Session) lookup(p *PDU, req Opcode) (*task, error) {
	s.mu.Lock()
	t := s.tasks[p.BHS.ITT()]
	s.mu.Unlock()
	switch {
	case t == nil:
		return nil, &ProtocolError{Op: p.BHS.Opcode(), Reason: fmt.Sprintf("ITT %#x of no task in flight", p.BHS.ITT())}
	case t.op != req:
		return nil, &ProtocolError{Op: p.BHS.Opcode(), Reason: fmt.Sprintf("for a %v", t.op)}
	}
	return t, nil
}

// complete removes t and hands it err, unless its caller gave up.
func (s *Session) complete(itt uint32, t *task, err error) {
	s.mu.Lock()
	if s.tasks[itt] == t {
		delete(s.tasks, itt)
	}
	s.mu.Unlock()
	t.finish(err)
}

// status records StatSN of a PDU carrying status.
func (s *Session) status(h *BHS) { s.expStatSN.Store(h.U32(offCmdSN) + 1) }

func (s *Session) handle(p *PDU) error {
	h := &p.BHS
	op := h.Opcode()
	bad := func(format string, a ...any) error {
		return &ProtocolError{Op: op, Reason: fmt.Sprintf(format, a...)}
	}
	if !op.FromTarget() {
		return bad("sent by a target")
	}
	s.updateWindow(h.U32(offExpStatSN), h.U32(offMaxCmdSN))
	switch op {
	case OpDataIn:
		t, err := s.lookup(p, OpSCSICommand)
		if err != nil {
			return err
		}
		sn, off := h.U32(offDataSN), int64(h.U32(offOffset))
		switch {
		case sn != t.dataSN:
			return bad("DataSN %d, expected %d", sn, t.dataSN)
		case off+int64(len(p.Data)) > int64(t.want):
			return bad("%d bytes at offset %d beyond the %d expected", len(p.Data), off, t.want)
		case off != int64(len(t.in)):
			return bad("offset %d, expected %d (DataPDUInOrder)", off, len(t.in))
		}
		t.dataSN++
		if t.in == nil {
			t.in = p.Data // ReadPDU's own buffer: the usual single Data-In is not copied
		} else {
			t.in = append(t.in, p.Data...)
		}
		if h[1]&FlagStatus == 0 {
			return nil
		}
		if h[1]&FlagFinal == 0 {
			return bad("S bit without F bit")
		}
		s.status(h)
		t.resp.Status = h[3]
		s.complete(h.ITT(), t, nil)
	case OpSCSIResponse:
		t, err := s.lookup(p, OpSCSICommand)
		if err != nil {
			return err
		}
		s.status(h)
		if h[2] != 0 {
			s.complete(h.ITT(), t, fmt.Errorf("iscsi: SCSI Response %#02x (target failure)", h[2]))
			return nil
		}
		t.resp.Status = h[3]
		if len(p.Data) >= 2 {
			n := int(binary.BigEndian.Uint16(p.Data))
			if 2+n > len(p.Data) {
				return bad("SenseLength %d, %d bytes of sense data", n, len(p.Data)-2)
			}
			t.resp.Sense = p.Data[2 : 2+n]
		} else if len(p.Data) == 1 {
			return bad("data segment of 1 byte: no room for SenseLength")
		}
		s.complete(h.ITT(), t, nil)
	case OpR2T:
		t, err := s.lookup(p, OpSCSICommand)
		if err != nil {
			return err
		}
		off, n := int64(h.U32(offOffset)), int64(h.U32(offResidual))
		if n == 0 || off+n > int64(len(t.out)) {
			return bad("for %d bytes at offset %d of a %d-byte write", n, off, len(t.out))
		}
		s.dataOut(p, t.out[off:off+n])
	case OpNOPIn:
		if h.ITT() == ReservedTag {
			if h.U32(offTTT) == ReservedTag {
				return nil // an unsolicited NOP-In needing no answer
			}
			s.pong(p)
			return nil
		}
		t, err := s.lookup(p, OpNOPOut)
		if err != nil {
			return err
		}
		s.status(h)
		t.text = p.Data
		s.complete(h.ITT(), t, nil)
	case OpTextResp:
		t, err := s.lookup(p, OpTextReq)
		if err != nil {
			return err
		}
		s.status(h)
		if len(t.text)+len(p.Data) > MaxTextLength {
			return bad("text longer than %d bytes", MaxTextLength)
		}
		t.text = append(t.text, p.Data...)
		t.flags, t.ttt = h[1], h.U32(offTTT)
		s.complete(h.ITT(), t, nil)
	case OpLogoutResp:
		t, err := s.lookup(p, OpLogoutReq)
		if err != nil {
			return err
		}
		s.status(h)
		var err2 error
		if h[2] != 0 {
			err2 = fmt.Errorf("iscsi: logout response %d", h[2])
		}
		s.complete(h.ITT(), t, err2)
	case OpAsyncMessage:
		s.status(h)
		switch h[36] {
		case 1: // the target requests a logout
			return fmt.Errorf("iscsi: target requested logout (asynchronous event 1)")
		case 2, 3: // the target drops the connection or session
			return fmt.Errorf("iscsi: target drops the session (asynchronous event %d)", h[36])
		}
	case OpReject:
		s.status(h)
		if len(p.Data) < BHSLen {
			return bad("carries %d bytes of the rejected header", len(p.Data))
		}
		var rh BHS
		copy(rh[:], p.Data)
		s.mu.Lock()
		t := s.tasks[rh.ITT()]
		s.mu.Unlock()
		if t == nil {
			return bad("reason %#02x for %v with no task in flight", h[2], rh.Opcode())
		}
		s.complete(rh.ITT(), t, &ProtocolError{Op: rh.Opcode(), Reason: fmt.Sprintf("rejected by the target, reason %#02x", h[2])})
	default:
		return bad("not expected in full feature phase")
	}
	return nil
}

// dataOut sends data as Data-Out PDUs answering the R2T r (RFC 7143
// §11.7), each at most MaxXmitDataSegmentLength bytes. It runs in the
// reader: a target asking for data faster than it takes it is slowed
// down, not queued.
func (s *Session) dataOut(r *PDU, data []byte) {
	base := r.BHS.U32(offOffset)
	mx := s.params.MaxXmitDataSegmentLength
	for sn, off := uint32(0), 0; off < len(data); sn++ {
		n := min(mx, len(data)-off)
		p := &PDU{Data: data[off : off+n]}
		p.BHS.SetOpcode(OpDataOut, false)
		if off+n == len(data) {
			p.BHS[1] = FlagFinal
		}
		p.BHS.SetLUN(r.BHS.LUN())
		p.BHS.PutU32(offITT, r.BHS.ITT())
		p.BHS.PutU32(offTTT, r.BHS.U32(offTTT))
		p.BHS.PutU32(offDataSN, sn)
		p.BHS.PutU32(offOffset, base+uint32(off))
		if err := s.c.write(p, func(p *PDU) { p.BHS.PutU32(offExpStatSN, s.expStatSN.Load()) }); err != nil {
			s.fail(err)
			return
		}
		off += n
	}
}

// pong answers the target's NOP-In ping r with a NOP-Out echoing its
// TTT, LUN and data (RFC 7143 §11.18).
func (s *Session) pong(r *PDU) {
	p := &PDU{Data: r.Data[:min(len(r.Data), s.params.MaxXmitDataSegmentLength)]}
	p.BHS.SetOpcode(OpNOPOut, true)
	p.BHS[1] = FlagFinal
	p.BHS.SetLUN(r.BHS.LUN())
	p.BHS.PutU32(offITT, ReservedTag)
	p.BHS.PutU32(offTTT, r.BHS.U32(offTTT))
	s.mu.Lock()
	sn := s.cmdSN
	s.mu.Unlock()
	p.BHS.PutU32(offCmdSN, sn)
	if err := s.c.write(p, func(p *PDU) { p.BHS.PutU32(offExpStatSN, s.expStatSN.Load()) }); err != nil {
		s.fail(err)
	}
}
