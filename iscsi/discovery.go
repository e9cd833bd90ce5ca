package iscsi

import (
	"context"
	"fmt"
	"strings"
	"unicode"
)

// maxTextRounds bounds the PDUs of one text exchange, Login or Text: a
// target whose answer never ends (C bit), in pieces however small, is
// given up.
const maxTextRounds = 1024

// TargetInfo is one target of a SendTargets answer (RFC 7143 §12.3).
type TargetInfo struct {
	Name      string
	Addresses []string // TargetAddress values: "host:port,tag"
}

// Text runs one text exchange (RFC 7143 §11.10): it sends pairs and
// returns the target's pairs, asking for the rest while the target sets
// the C bit, up to MaxTextLength bytes.
func (s *Session) Text(ctx context.Context, pairs []Pair) ([]Pair, error) {
	var text []byte
	data := AppendText(nil, pairs...)
	ttt := uint32(ReservedTag)
	for range maxTextRounds {
		t := &task{op: OpTextReq, text: text}
		p := &PDU{Data: data}
		p.BHS.SetOpcode(OpTextReq, false)
		p.BHS[1] = FlagFinal
		p.BHS.PutU32(offTTT, ttt)
		if err := s.start(ctx, t, p); err != nil {
			return nil, err
		}
		if err := s.wait(ctx, t); err != nil {
			return nil, err
		}
		text, data, ttt = t.text, nil, t.ttt
		if t.flags&FlagContinue == 0 {
			if t.flags&FlagFinal == 0 {
				return nil, &ProtocolError{Op: OpTextResp, Reason: "neither F nor C bit"}
			}
			return ParseText(OpTextResp, text)
		}
		if ttt == ReservedTag {
			return nil, &ProtocolError{Op: OpTextResp, Reason: "C bit with the reserved TTT"}
		}
	}
	return nil, &ProtocolError{Op: OpTextResp, Reason: fmt.Sprintf("text answer not ended after %d requests", maxTextRounds)}
}

// MaxNameLength is the longest iSCSI name (RFC 7143 §4.2.7.1), in bytes.
const MaxNameLength = 223

// SendTargets asks the target for its targets (RFC 7143 §12.3,
// SendTargets=All in a discovery session). A TargetAddress before any
// TargetName, a TargetName empty or longer than MaxNameLength, and a
// name or address with a control character (which no iSCSI name or
// address has, and which a terminal would obey) are a *ProtocolError.
func (s *Session) SendTargets(ctx context.Context) ([]TargetInfo, error) {
	pairs, err := s.Text(ctx, []Pair{{"SendTargets", "All"}})
	if err != nil {
		return nil, err
	}
	var out []TargetInfo
	for _, p := range pairs {
		if (p.Key == "TargetName" || p.Key == "TargetAddress") && strings.ContainsFunc(p.Value, unicode.IsControl) {
			return nil, &ProtocolError{Op: OpTextResp, Reason: fmt.Sprintf("%s %.64q has control characters", p.Key, p.Value)}
		}
		switch p.Key {
		case "TargetName":
			if p.Value == "" || len(p.Value) > MaxNameLength {
				return nil, &ProtocolError{Op: OpTextResp, Reason: fmt.Sprintf("TargetName of %d bytes (1 to %d)", len(p.Value), MaxNameLength)}
			}
			out = append(out, TargetInfo{Name: p.Value})
		case "TargetAddress":
			if len(out) == 0 {
				return nil, &ProtocolError{Op: OpTextResp, Reason: "TargetAddress before TargetName"}
			}
			out[len(out)-1].Addresses = append(out[len(out)-1].Addresses, p.Value)
		}
	}
	return out, nil
}

// Discover logs in to the portal at addr in a discovery session, asks for
// its targets with SendTargets and logs out.
func Discover(ctx context.Context, addr string, cfg Config) ([]TargetInfo, error) {
	cfg.TargetName = ""
	s, err := Dial(ctx, addr, cfg)
	if err != nil {
		return nil, err
	}
	targets, err := s.SendTargets(ctx)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("iscsi: SendTargets at %s: %w", addr, err)
	}
	s.Logout(ctx)
	return targets, nil
}
