package iscsi

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Params are the operational parameters of a session (RFC 7143 §13).
// DefaultParams gives the RFC's defaults; a login starts from them and
// the negotiation changes what both sides agree on.
type Params struct {
	HeaderDigest, DataDigest bool // CRC32C, else None (§13.1)
	// MaxRecvDataSegmentLength is what this side declared (§13.12): the
	// longest data segment it accepts, MinDataSegment to MaxDataSegment.
	MaxRecvDataSegmentLength int
	// MaxXmitDataSegmentLength is what the peer declared: the longest
	// data segment this side may send.
	MaxXmitDataSegmentLength int
	InitialR2T               bool // §13.10, result OR
	ImmediateData            bool // §13.11, result AND
	FirstBurstLength         int  // bytes, §13.14, result min, at most MaxBurstLength
	MaxBurstLength           int  // bytes, §13.13, result min
	MaxConnections           int  // §13.2, result min; this package uses 1
	ErrorRecoveryLevel       int  // §13.20, result min; this package uses 0
	DefaultTime2Wait         int  // seconds, §13.15, result max
	DefaultTime2Retain       int  // seconds, §13.16, result min
	MaxOutstandingR2T        int  // §13.17, result min
	DataPDUInOrder           bool // §13.18, result OR
	DataSequenceInOrder      bool // §13.19, result OR
}

// PreferredParams returns what a zero Config or TargetConfig offers:
// DefaultParams with a MaxRecvDataSegmentLength of 256 KiB, as Linux's
// initiator declares.
func PreferredParams() Params {
	p := DefaultParams()
	p.MaxRecvDataSegmentLength = 262144
	return p
}

// defaultQueueDepth is the CmdSN window of a zero Config or TargetConfig.
const defaultQueueDepth = 128

// DefaultParams returns the defaults of RFC 7143 §13.
func DefaultParams() Params {
	return Params{
		MaxRecvDataSegmentLength: DefaultDataSegment, MaxXmitDataSegmentLength: DefaultDataSegment,
		InitialR2T: true, ImmediateData: true, FirstBurstLength: 65536, MaxBurstLength: 262144,
		MaxConnections: 1, DefaultTime2Wait: 2, DefaultTime2Retain: 20, MaxOutstandingR2T: 1,
		DataPDUInOrder: true, DataSequenceInOrder: true,
	}
}

// How the outcome of a key follows from the offer and the answer
// (RFC 7143 §6.2).
type result int

const (
	resultList result = iota // the responder picks the first value it supports
	resultMin
	resultMax
	resultOR
	resultAND
	resultDecl // declarative: each side states its own value
)

type keyDef struct {
	result  result
	lo, hi  int  // numbers
	session bool // only in Normal sessions (Irrelevant in discovery)
	field   func(p *Params) any
}

var keys = map[string]keyDef{
	"HeaderDigest":             {result: resultList, field: func(p *Params) any { return &p.HeaderDigest }},
	"DataDigest":               {result: resultList, field: func(p *Params) any { return &p.DataDigest }},
	"MaxRecvDataSegmentLength": {result: resultDecl, lo: MinDataSegment, hi: MaxDataSegment, field: func(p *Params) any { return &p.MaxXmitDataSegmentLength }},
	"InitialR2T":               {result: resultOR, session: true, field: func(p *Params) any { return &p.InitialR2T }},
	"ImmediateData":            {result: resultAND, session: true, field: func(p *Params) any { return &p.ImmediateData }},
	"FirstBurstLength":         {result: resultMin, lo: 512, hi: MaxDataSegment, session: true, field: func(p *Params) any { return &p.FirstBurstLength }},
	"MaxBurstLength":           {result: resultMin, lo: 512, hi: MaxDataSegment, session: true, field: func(p *Params) any { return &p.MaxBurstLength }},
	"MaxConnections":           {result: resultMin, lo: 1, hi: 65535, session: true, field: func(p *Params) any { return &p.MaxConnections }},
	"ErrorRecoveryLevel":       {result: resultMin, lo: 0, hi: 2, field: func(p *Params) any { return &p.ErrorRecoveryLevel }},
	"DefaultTime2Wait":         {result: resultMax, lo: 0, hi: 3600, field: func(p *Params) any { return &p.DefaultTime2Wait }},
	"DefaultTime2Retain":       {result: resultMin, lo: 0, hi: 3600, field: func(p *Params) any { return &p.DefaultTime2Retain }},
	"MaxOutstandingR2T":        {result: resultMin, lo: 1, hi: 65535, session: true, field: func(p *Params) any { return &p.MaxOutstandingR2T }},
	"DataPDUInOrder":           {result: resultOR, session: true, field: func(p *Params) any { return &p.DataPDUInOrder }},
	"DataSequenceInOrder":      {result: resultOR, session: true, field: func(p *Params) any { return &p.DataSequenceInOrder }},
}

// offerOrder is the order keys are offered in, as Linux's initiator does.
var offerOrder = []string{
	"HeaderDigest", "DataDigest", "MaxRecvDataSegmentLength", "DefaultTime2Wait", "DefaultTime2Retain",
	"ErrorRecoveryLevel", "InitialR2T", "ImmediateData", "MaxBurstLength", "FirstBurstLength",
	"MaxOutstandingR2T", "MaxConnections", "DataPDUInOrder", "DataSequenceInOrder",
}

// Values a responder may answer instead of a value (RFC 7143 §6.2).
const (
	valNotUnderstood = "NotUnderstood"
	valIrrelevant    = "Irrelevant"
	valReject        = "Reject"
)

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

func digestOffer(b bool) string {
	if b {
		return "CRC32C,None"
	}
	return "None"
}

// Offer returns the keys that state p's preferences in a login's
// operational stage, in offerOrder; discovery sessions offer only the
// keys that apply to them.
func (p *Params) Offer(discovery bool) []Pair {
	var out []Pair
	for _, k := range offerOrder {
		d := keys[k]
		if discovery && d.session {
			continue
		}
		out = append(out, Pair{k, p.value(k)})
	}
	return out
}

// value formats this side's value of key k: a digest preference lists
// CRC32C first when it is wanted, but accepts None.
func (p *Params) value(k string) string {
	if k == "MaxRecvDataSegmentLength" {
		return strconv.Itoa(p.MaxRecvDataSegmentLength)
	}
	switch v := keys[k].field(p).(type) {
	case *bool:
		if keys[k].result == resultList {
			return digestOffer(*v)
		}
		return yesNo(*v)
	case *int:
		return strconv.Itoa(*v)
	}
	panic("iscsi: key " + k)
}

// A NegotiationError is a key whose offer or answer RFC 7143 does not
// allow: a value out of range or of the wrong kind, or an answer that
// breaks the key's result function.
type NegotiationError struct {
	Key, Value, Reason string
}

func (e *NegotiationError) Error() string {
	return fmt.Sprintf("iscsi: negotiation: %s=%.64q: %s", e.Key, e.Value, e.Reason)
}

func parseValue(k, v string, d keyDef) (any, error) {
	bad := func(reason string) error { return &NegotiationError{k, v, reason} }
	switch d.result {
	case resultList:
		return nil, nil // the caller reads the list
	case resultOR, resultAND:
		switch v {
		case "Yes":
			return true, nil
		case "No":
			return false, nil
		}
		return nil, bad("not Yes or No")
	}
	if len(v) > 10 {
		return nil, bad("not a number in range")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < d.lo || n > d.hi {
		return nil, bad(fmt.Sprintf("not a number from %d to %d", d.lo, d.hi))
	}
	return n, nil
}

// Respond answers one key the peer offered, as the responder of RFC 7143
// §6.2, with own as this side's preferences: it returns the answer to
// send and applies the outcome to neg. A key this package does not know
// is answered NotUnderstood; a session key in discovery, Irrelevant; a
// value out of range, Reject (the outcome keeps the default). The
// returned answer is empty for a declaration that needs none.
func Respond(neg, own *Params, k, v string, discovery bool) (Pair, error) {
	d, ok := keys[k]
	switch {
	case !ok:
		return Pair{k, valNotUnderstood}, nil
	case discovery && d.session:
		return Pair{k, valIrrelevant}, nil
	}
	if d.result == resultList {
		want := *d.field(own).(*bool)
		for c := range strings.SplitSeq(v, ",") {
			if c == "CRC32C" && want || c == "None" {
				*d.field(neg).(*bool) = c == "CRC32C"
				return Pair{k, c}, nil
			}
		}
		return Pair{k, valReject}, nil
	}
	x, err := parseValue(k, v, d)
	if err != nil {
		return Pair{k, valReject}, nil
	}
	if d.result == resultDecl {
		*d.field(neg).(*int) = x.(int)
		return Pair{}, nil
	}
	switch f := d.field(neg).(type) {
	case *bool:
		mine := *d.field(own).(*bool)
		if d.result == resultOR {
			*f = x.(bool) || mine
		} else {
			*f = x.(bool) && mine
		}
		return Pair{k, yesNo(*f)}, nil
	case *int:
		mine := *d.field(own).(*int)
		if d.result == resultMin {
			*f = min(x.(int), mine)
		} else {
			*f = max(x.(int), mine)
		}
		return Pair{k, strconv.Itoa(*f)}, nil
	}
	panic("iscsi: key " + k)
}

// Accept applies the peer's answer v to a key this side offered from
// own, as the originator of RFC 7143 §6.2, to neg. NotUnderstood,
// Irrelevant and Reject keep the default. An answer the result function
// does not allow — a min above the offer, a max below it, No to an OR
// offered Yes, Yes to an AND offered No, a list value not offered — is a
// *NegotiationError.
func Accept(neg, own *Params, k, v string) error {
	d, ok := keys[k]
	if !ok {
		return &NegotiationError{k, v, "answer to a key not offered"}
	}
	switch v {
	case valNotUnderstood, valIrrelevant, valReject:
		return nil
	}
	bad := func(reason string) error { return &NegotiationError{k, v, reason} }
	if d.result == resultList {
		offered := strings.Split(own.value(k), ",")
		if !slices.Contains(offered, v) {
			return bad("not one of the values offered")
		}
		*d.field(neg).(*bool) = v == "CRC32C"
		return nil
	}
	x, err := parseValue(k, v, d)
	if err != nil {
		return err
	}
	switch f := d.field(neg).(type) {
	case *bool:
		mine := *d.field(own).(*bool)
		if d.result == resultOR && mine && !x.(bool) || d.result == resultAND && !mine && x.(bool) {
			return bad("breaks the result function " + map[result]string{resultOR: "OR", resultAND: "AND"}[d.result])
		}
		*f = x.(bool)
	case *int:
		if d.result == resultDecl {
			*f = x.(int)
			return nil
		}
		mine := *d.field(own).(*int)
		if d.result == resultMin && x.(int) > mine || d.result == resultMax && x.(int) < mine {
			return bad(fmt.Sprintf("breaks the result function of the offer %d", mine))
		}
		*f = x.(int)
	}
	return nil
}

// check verifies what the negotiation agreed: FirstBurstLength may not
// exceed MaxBurstLength (RFC 7143 §13.14), and this package runs one
// connection at ErrorRecoveryLevel 0.
func (p *Params) check() error {
	switch {
	case p.FirstBurstLength > p.MaxBurstLength:
		return &NegotiationError{"FirstBurstLength", strconv.Itoa(p.FirstBurstLength), "above MaxBurstLength"}
	case p.ErrorRecoveryLevel != 0:
		return &NegotiationError{"ErrorRecoveryLevel", strconv.Itoa(p.ErrorRecoveryLevel), "only 0 is supported"}
	}
	return nil
}

// limits returns the PDU limits of a connection with p.
func (p *Params) limits() Limits {
	return Limits{MaxRecvDataSegmentLength: p.MaxRecvDataSegmentLength, HeaderDigest: p.HeaderDigest, DataDigest: p.DataDigest}
}
