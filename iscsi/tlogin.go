package iscsi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/complchain/complchain/scsi"
)

// tsession is the target's side of one connection: its session.
type tsession struct {
	t         *Target
	c         *conn
	host      *scsi.Host // nil in a discovery session
	name      string     // TargetName
	discovery bool
	params    Params
	isid      [6]byte
	tsih      uint16
	lastReq   *PDU // the last PDU read during login, answered on failure

	statSN    uint32        // next StatSN; under c.mu once in full feature phase
	expCmdSN  uint32        // reader only
	firstSN   uint32        // CmdSN of the first command
	completed atomic.Uint32 // commands answered, from firstSN
	expected  atomic.Uint32 // commands received, from firstSN
}

// loginFailure ends a login with a status other than success.
type loginFailure struct {
	class, detail uint8
	reason        string
}

func (e *loginFailure) Error() string {
	return fmt.Sprintf("iscsi: login refused (%02x%02x): %s", e.class, e.detail, e.reason)
}

func initiatorError(detail uint8, format string, a ...any) error {
	return &loginFailure{class: loginInitiatorError, detail: detail, reason: fmt.Sprintf(format, a...)}
}

// loginResp builds a Login Response to req.
func (ss *tsession) loginResp(req *PDU, csg, nsg int, transit bool, text []byte) *PDU {
	p := &PDU{Data: text}
	p.BHS.SetOpcode(OpLoginResp, false)
	p.BHS[1] = byte(csg&3)<<2 | byte(nsg&3)
	if transit {
		p.BHS[1] |= FlagTransit
	}
	copy(p.BHS[8:14], req.BHS[8:14])
	binary.BigEndian.PutUint16(p.BHS[14:], ss.tsih)
	p.BHS.PutU32(offITT, req.BHS.ITT())
	p.BHS.PutU32(offCmdSN, ss.statSN)
	ss.statSN++
	p.BHS.PutU32(offExpStatSN, ss.expCmdSN)
	p.BHS.PutU32(offMaxCmdSN, ss.expCmdSN+uint32(ss.t.cfg.QueueDepth)-1)
	return p
}

// readLogin reads one Login Request's text, asking for the rest while
// the initiator sets the C bit. It returns the first PDU of the text,
// the pairs (no key twice), and the request's T bit, CSG and NSG.
func (ss *tsession) readLogin() (*PDU, map[string]string, bool, int, int, error) {
	var (
		first *PDU
		text  []byte
	)
	for {
		p, err := ss.c.read()
		if err != nil {
			return nil, nil, false, 0, 0, err
		}
		ss.lastReq = p
		h := &p.BHS
		if h.Opcode() != OpLoginReq {
			return nil, nil, false, 0, 0, initiatorError(detailInvalidDuringLogin, "%v during login", h.Opcode())
		}
		if first == nil {
			first = p
			if h[3] != 0 { // Version-min above 0, the only version
				return nil, nil, false, 0, 0, &loginFailure{loginInitiatorError, 0x05, "unsupported version"}
			}
		}
		if len(text)+len(p.Data) > MaxTextLength {
			return nil, nil, false, 0, 0, initiatorError(0, "login text longer than %d bytes", MaxTextLength)
		}
		text = append(text, p.Data...)
		csg, nsg := int(h[1]>>2&3), int(h[1]&3)
		if h[1]&FlagContinue != 0 {
			if h[1]&FlagTransit != 0 {
				return nil, nil, false, 0, 0, initiatorError(0, "both T and C bits")
			}
			if err := ss.c.write(ss.loginResp(p, csg, csg, false, nil), nil); err != nil {
				return nil, nil, false, 0, 0, err
			}
			continue
		}
		list, err := ParseText(OpLoginReq, text)
		if err != nil {
			return nil, nil, false, 0, 0, initiatorError(0, "%v", err)
		}
		kv := make(map[string]string, len(list))
		for _, p := range list {
			if _, dup := kv[p.Key]; dup {
				return nil, nil, false, 0, 0, initiatorError(0, "key %s sent twice", p.Key)
			}
			kv[p.Key] = p.Value
		}
		ss.isid = [6]byte(first.BHS[8:14])
		ss.expCmdSN = first.BHS.U32(offCmdSN)
		ss.firstSN = ss.expCmdSN
		return first, kv, h[1]&FlagTransit != 0, csg, nsg, nil
	}
}

// login runs the target's side of the login (RFC 7143 §6.3), within
// LoginTimeout; on failure it sends the Login Response with the status
// if it can.
func (ss *tsession) login() error {
	ss.c.nc.SetDeadline(time.Now().Add(ss.t.cfg.LoginTimeout))
	defer ss.c.nc.SetDeadline(time.Time{})
	err := ss.loginStages()
	var lf *loginFailure
	if ss.lastReq != nil && errors.As(err, &lf) {
		p := ss.loginResp(ss.lastReq, 0, 0, false, nil)
		p.BHS[36], p.BHS[37] = lf.class, lf.detail
		ss.c.write(p, nil)
	}
	return err
}

func (ss *tsession) loginStages() error {
	cfg := &ss.t.cfg
	req, kv, transit, csg, nsg, err := ss.readLogin()
	if err != nil {
		return err
	}
	if tsih := binary.BigEndian.Uint16(req.BHS[14:]); tsih != 0 {
		return initiatorError(0x0a, "TSIH %d: sessions take one connection", tsih)
	}
	if kv["InitiatorName"] == "" {
		return initiatorError(detailMissingParameter, "no InitiatorName")
	}
	switch kv["SessionType"] {
	case "", "Normal":
		ss.name = kv["TargetName"]
		if ss.host = ss.t.host(ss.name); ss.host == nil {
			return &loginFailure{loginInitiatorError, detailNotFound, fmt.Sprintf("no target %.64q", ss.name)}
		}
		if ss.host.Hang {
			ss.c.nc.SetDeadline(time.Time{})
			for { // a hung target: read until the initiator gives up
				if _, err := ss.c.read(); err != nil {
					return err
				}
			}
		}
	case "Discovery":
		ss.discovery = true
	default:
		return initiatorError(detailUnsupportedType, "SessionType %.32q", kv["SessionType"])
	}
	ss.tsih = ss.t.nextTSIH()
	if csg == StageSecurity {
		ans := []Pair{}
		methods := splitList(kv["AuthMethod"])
		method := "None"
		if cfg.CHAP != nil {
			method = "CHAP"
		}
		if !slices.Contains(methods, method) {
			return &loginFailure{loginInitiatorError, detailAuthFailed, "AuthMethod " + method + " not offered"}
		}
		ans = append(ans, Pair{"AuthMethod", method})
		if !ss.discovery {
			ans = append(ans, Pair{"TargetPortalGroupTag", "1"})
			if cfg.Alias != "" {
				ans = append(ans, Pair{"TargetAlias", cfg.Alias})
			}
		}
		if method == "CHAP" {
			if err := ss.c.write(ss.loginResp(req, csg, csg, false, AppendText(nil, ans...)), nil); err != nil {
				return err
			}
			if req, kv, _, _, _, err = ss.readLogin(); err != nil {
				return err
			}
			if !slices.Contains(splitList(kv["CHAP_A"]), chapMD5) {
				return &loginFailure{loginInitiatorError, detailAuthFailed, "CHAP_A 5 (MD5) not offered"}
			}
			ch := newChallenge()
			if err := ss.c.write(ss.loginResp(req, csg, csg, false, AppendText(nil, ch.pairs()...)), nil); err != nil {
				return err
			}
			if req, kv, transit, csg, nsg, err = ss.readLogin(); err != nil {
				return err
			}
			if !ch.verify(cfg.CHAP, kv) {
				return &loginFailure{loginInitiatorError, detailAuthFailed, "CHAP response does not match"}
			}
			ans = nil
		}
		for !transit { // the initiator stays in the security stage
			if err := ss.c.write(ss.loginResp(req, csg, csg, false, AppendText(nil, ans...)), nil); err != nil {
				return err
			}
			if req, _, transit, csg, nsg, err = ss.readLogin(); err != nil {
				return err
			}
			ans = nil
			if csg != StageSecurity {
				return initiatorError(0, "CSG %d without transit", csg)
			}
		}
		if nsg != StageOperational && nsg != StageFullFeature {
			return initiatorError(0, "NSG %d", nsg)
		}
		if err := ss.c.write(ss.loginResp(req, csg, nsg, true, AppendText(nil, ans...)), nil); err != nil {
			return err
		}
		if nsg == StageFullFeature {
			ss.params = DefaultParams()
			return nil
		}
		if req, kv, transit, csg, nsg, err = ss.readLogin(); err != nil {
			return err
		}
	} else if cfg.CHAP != nil {
		return &loginFailure{loginInitiatorError, detailAuthFailed, "the security stage was skipped"}
	}
	if csg != StageOperational {
		return initiatorError(0, "CSG %d", csg)
	}
	return ss.operational(req, kv, transit, nsg)
}

// operational answers the initiator's operational keys until it transits
// to full feature phase.
func (ss *tsession) operational(req *PDU, kv map[string]string, transit bool, nsg int) error {
	own := &ss.t.cfg.Params
	neg := DefaultParams()
	neg.MaxRecvDataSegmentLength = own.MaxRecvDataSegmentLength
	declared := false
	for round := 0; ; round++ {
		if round == maxLoginRounds {
			return initiatorError(0, "operational stage never ends")
		}
		var ans []Pair
		for _, k := range slices.Sorted(maps.Keys(kv)) {
			if slices.Contains(declarative, k) && k != "MaxRecvDataSegmentLength" {
				continue
			}
			a, err := Respond(&neg, own, k, kv[k], ss.discovery)
			if err != nil {
				return initiatorError(0, "%v", err)
			}
			if a.Key != "" {
				ans = append(ans, a)
			}
		}
		if !declared {
			ans = append(ans, Pair{"MaxRecvDataSegmentLength", fmt.Sprint(own.MaxRecvDataSegmentLength)})
			declared = true
		}
		if transit && nsg != StageFullFeature {
			return initiatorError(0, "operational stage transits to stage %d", nsg)
		}
		if err := ss.c.write(ss.loginResp(req, StageOperational, nsg, transit, AppendText(nil, ans...)), nil); err != nil {
			return err
		}
		if transit {
			break
		}
		var (
			csg int
			err error
		)
		if req, kv, transit, csg, nsg, err = ss.readLogin(); err != nil {
			return err
		}
		if csg != StageOperational {
			return initiatorError(0, "CSG %d in the operational stage", csg)
		}
	}
	if err := neg.check(); err != nil {
		return initiatorError(0, "%v", err)
	}
	ss.params = neg
	return nil
}

func splitList(v string) []string { return strings.Split(v, ",") }
