package iscsi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"syscall"
)

// maxLoginRounds bounds the Login PDUs of one login: a target that never
// transits to full feature phase is given up.
const maxLoginRounds = 16

// loginPDU builds a Login Request (RFC 7143 §11.12).
func (s *Session) loginPDU(csg, nsg int, transit bool, text []byte) *PDU {
	p := &PDU{Data: text}
	p.BHS.SetOpcode(OpLoginReq, true)
	p.BHS[1] = byte(csg&3)<<2 | byte(nsg&3)
	if transit {
		p.BHS[1] |= FlagTransit
	}
	copy(p.BHS[8:14], s.isid[:])
	binary.BigEndian.PutUint16(p.BHS[14:], s.tsih)
	p.BHS.PutU32(offITT, s.loginITT)
	p.BHS.PutU32(offCmdSN, s.cmdSN)
	p.BHS.PutU32(offExpStatSN, s.expStatSN.Load())
	return p
}

// loginRound sends one stage's keys and returns the target's keys, with
// the response's T bit and NSG. A response with the C bit is followed
// by empty requests until the text is complete, for at most
// maxTextRounds responses.
func (s *Session) loginRound(csg, nsg int, transit bool, pairs []Pair) (map[string]string, []Pair, bool, int, error) {
	var text []byte
	req := s.loginPDU(csg, nsg, transit, AppendText(nil, pairs...))
	for round := 0; ; round++ {
		if round == maxTextRounds {
			return nil, nil, false, 0, &ProtocolError{Op: OpLoginResp, Reason: fmt.Sprintf("login text not ended after %d responses (C bit)", maxTextRounds)}
		}
		if err := s.c.write(req, nil); err != nil {
			return nil, nil, false, 0, err
		}
		p, err := s.c.read()
		if err == nil && p.BHS.Opcode() != OpLoginResp {
			err = &ProtocolError{Op: p.BHS.Opcode(), Reason: "during login"}
		}
		if err != nil {
			if !s.answered && notISCSI(err) {
				err = fmt.Errorf("%w: %w", ErrNotISCSI, err)
			}
			return nil, nil, false, 0, err
		}
		s.answered = true
		h := &p.BHS
		if class, detail := h[36], h[37]; class != 0 {
			return nil, nil, false, 0, &LoginError{Target: s.cfg.TargetName, Class: class, Detail: detail}
		}
		if h.ITT() != s.loginITT {
			return nil, nil, false, 0, &ProtocolError{Op: OpLoginResp, Reason: fmt.Sprintf("ITT %#x, sent %#x", h.ITT(), s.loginITT)}
		}
		if rcsg := int(h[1] >> 2 & 3); rcsg != csg {
			return nil, nil, false, 0, &ProtocolError{Op: OpLoginResp, Reason: fmt.Sprintf("CSG %d, sent %d", rcsg, csg)}
		}
		if h[1]&FlagTransit != 0 && h[1]&FlagContinue != 0 {
			return nil, nil, false, 0, &ProtocolError{Op: OpLoginResp, Reason: "both T and C bits"}
		}
		s.tsih = binary.BigEndian.Uint16(h[14:])
		s.expStatSN.Store(h.U32(offCmdSN) + 1)
		s.updateWindow(h.U32(offExpStatSN), h.U32(offMaxCmdSN))
		if len(text)+len(p.Data) > MaxTextLength {
			return nil, nil, false, 0, &ProtocolError{Op: OpLoginResp, Reason: "login text longer than MaxTextLength"}
		}
		text = append(text, p.Data...)
		if h[1]&FlagContinue != 0 {
			req = s.loginPDU(csg, nsg, false, nil)
			continue
		}
		list, err := ParseText(OpLoginResp, text)
		if err != nil {
			return nil, nil, false, 0, err
		}
		kv := make(map[string]string, len(list))
		for _, p := range list {
			if _, dup := kv[p.Key]; dup {
				return nil, nil, false, 0, &ProtocolError{Op: OpLoginResp, Reason: "key " + p.Key + " sent twice"}
			}
			kv[p.Key] = p.Value
		}
		rnsg := int(h[1] & 3)
		return kv, list, h[1]&FlagTransit != 0, rnsg, nil
	}
}

// login runs the security and operational stages (RFC 7143 §6.3) on a
// fresh connection and leaves the session in full feature phase with
// the negotiated parameters.
func (s *Session) login() error {
	discovery := s.cfg.TargetName == ""
	sec := []Pair{{"InitiatorName", s.cfg.InitiatorName}}
	if discovery {
		sec = append(sec, Pair{"SessionType", "Discovery"})
	} else {
		sec = append(sec, Pair{"SessionType", "Normal"}, Pair{"TargetName", s.cfg.TargetName})
	}
	auth := "None"
	if s.cfg.CHAP != nil {
		auth = "CHAP,None"
	}
	sec = append(sec, Pair{"AuthMethod", auth})
	// Offer to go on to the operational stage at once; the target holds
	// the security stage (T=0) to authenticate.
	kv, _, transit, nsg, err := s.loginRound(StageSecurity, StageOperational, s.cfg.CHAP == nil, sec)
	if err != nil {
		return err
	}
	s.targetAlias = kv["TargetAlias"]
	switch m := kv["AuthMethod"]; {
	case m == "CHAP" && s.cfg.CHAP != nil:
		if kv, _, _, _, err = s.loginRound(StageSecurity, StageOperational, false, []Pair{{"CHAP_A", chapMD5}}); err != nil {
			return err
		}
		ans, err := s.cfg.CHAP.answer(kv)
		if err != nil {
			return err
		}
		if _, _, transit, nsg, err = s.loginRound(StageSecurity, StageOperational, true, ans); err != nil {
			return err
		}
		if !transit {
			return &ProtocolError{Op: OpLoginResp, Reason: "no transit after the CHAP response"}
		}
	case m == "None" || m == "" && transit:
		for round := 0; !transit; round++ {
			if round == maxLoginRounds {
				return &ProtocolError{Op: OpLoginResp, Reason: "security stage never ends"}
			}
			if _, _, transit, nsg, err = s.loginRound(StageSecurity, StageOperational, true, nil); err != nil {
				return err
			}
		}
	default:
		return &NegotiationError{Key: "AuthMethod", Value: m, Reason: "not one offered"}
	}
	if nsg != StageOperational {
		return &ProtocolError{Op: OpLoginResp, Reason: fmt.Sprintf("security stage transits to stage %d", nsg)}
	}
	return s.operational(discovery)
}

// operational negotiates the operational keys: it offers s.cfg.Params,
// accepts the target's answers and answers the keys the target offers,
// until the target transits to full feature phase.
func (s *Session) operational(discovery bool) error {
	own := &s.cfg.Params
	neg := DefaultParams()
	neg.MaxRecvDataSegmentLength = own.MaxRecvDataSegmentLength
	offer := own.Offer(discovery)
	offered := map[string]bool{}
	for _, p := range offer {
		offered[p.Key] = true
	}
	send := offer
	for round := 0; ; round++ {
		if round == maxLoginRounds {
			return &ProtocolError{Op: OpLoginResp, Reason: "operational stage never ends"}
		}
		_, list, transit, nsg, err := s.loginRound(StageOperational, StageFullFeature, true, send)
		if err != nil {
			return err
		}
		send = nil
		for _, p := range list {
			switch {
			case offered[p.Key] && p.Key != "MaxRecvDataSegmentLength":
				if err := Accept(&neg, own, p.Key, p.Value); err != nil {
					return err
				}
				delete(offered, p.Key) // a second answer is a new offer
			case slices.Contains(declarative, p.Key):
				if p.Key == "MaxRecvDataSegmentLength" {
					if err := Accept(&neg, own, p.Key, p.Value); err != nil {
						return err
					}
				}
				if p.Key == "TargetAlias" {
					s.targetAlias = p.Value
				}
			default:
				a, err := Respond(&neg, own, p.Key, p.Value, discovery)
				if err != nil {
					return err
				}
				if a.Key != "" {
					send = append(send, a)
				}
			}
		}
		if transit && len(send) == 0 {
			if nsg != StageFullFeature {
				return &ProtocolError{Op: OpLoginResp, Reason: fmt.Sprintf("operational stage transits to stage %d", nsg)}
			}
			break
		}
	}
	if err := neg.check(); err != nil {
		return err
	}
	s.params = neg
	s.c.in, s.c.out = neg.limits(), neg.limits()
	s.c.in.MaxRecvDataSegmentLength = own.MaxRecvDataSegmentLength
	return nil
}

// declarative are keys each side states for itself, never answered
// (RFC 7143 §6.2, §13).
var declarative = []string{"MaxRecvDataSegmentLength", "TargetAlias", "InitiatorAlias", "TargetAddress", "TargetPortalGroupTag"}

// notISCSI reports whether err, reading the first answer to a login,
// says that the peer does not speak iSCSI: a PDU breaking the protocol,
// or the connection closed or reset without an answer. A time-out says
// nothing: the target may be slow.
func notISCSI(err error) bool {
	var pe *ProtocolError
	return errors.As(err, &pe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}
