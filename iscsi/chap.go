package iscsi

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// CHAP is a name and secret for CHAP authentication with MD5 (RFC 1994,
// as RFC 7143 §12.1.3 profiles it: CHAP_A=5).
type CHAP struct {
	Name   string
	Secret string // RFC 7143 §12.1.3: at least 12 bytes of secret are recommended
}

// Bounds of CHAP values (RFC 7143 §12.1.3): a challenge is at most
// maxChallenge bytes; this package sends chapChallengeLen random bytes.
const (
	maxChallenge     = 1024
	chapChallengeLen = 16
	chapMD5          = "5"
)

// chapResponse is MD5(identifier || secret || challenge) (RFC 1994 §4.1).
func chapResponse(id byte, secret string, challenge []byte) []byte {
	h := md5.New()
	h.Write([]byte{id})
	h.Write([]byte(secret))
	h.Write(challenge)
	return h.Sum(nil)
}

// decodeBinary decodes a binary value of RFC 7143 §6.1: "0x" hex or "0b"
// base64, at most max bytes.
func decodeBinary(key, v string, max int) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	switch {
	case len(v) > 2*max+2:
		err = fmt.Errorf("longer than %d bytes", max)
	case strings.HasPrefix(v, "0x") || strings.HasPrefix(v, "0X"):
		b, err = hex.DecodeString(v[2:])
	case strings.HasPrefix(v, "0b") || strings.HasPrefix(v, "0B"):
		b, err = base64.StdEncoding.DecodeString(v[2:])
	default:
		err = fmt.Errorf("not 0x hex or 0b base64")
	}
	if err == nil && (len(b) == 0 || len(b) > max) {
		err = fmt.Errorf("%d bytes, want 1 to %d", len(b), max)
	}
	if err != nil {
		return nil, &NegotiationError{Key: key, Value: v, Reason: err.Error()}
	}
	return b, nil
}

// chapAnswer is the initiator's reply to the target's CHAP_A, CHAP_I and
// CHAP_C: CHAP_N and CHAP_R.
func (c *CHAP) answer(kv map[string]string) ([]Pair, error) {
	if kv["CHAP_A"] != chapMD5 {
		return nil, &NegotiationError{Key: "CHAP_A", Value: kv["CHAP_A"], Reason: "only MD5 (5) is supported"}
	}
	id, err := strconv.ParseUint(kv["CHAP_I"], 10, 8)
	if err != nil {
		return nil, &NegotiationError{Key: "CHAP_I", Value: kv["CHAP_I"], Reason: "not a number from 0 to 255"}
	}
	ch, err := decodeBinary("CHAP_C", kv["CHAP_C"], maxChallenge)
	if err != nil {
		return nil, err
	}
	r := chapResponse(byte(id), c.Secret, ch)
	return []Pair{{"CHAP_N", c.Name}, {"CHAP_R", "0x" + hex.EncodeToString(r)}}, nil
}

// chapChallenge is the target's CHAP_I and CHAP_C for one login.
type chapChallenge struct {
	id        byte
	challenge []byte
}

func newChallenge() chapChallenge {
	c := chapChallenge{challenge: make([]byte, chapChallengeLen)}
	rand.Read(c.challenge)
	var id [1]byte
	rand.Read(id[:])
	c.id = id[0]
	return c
}

func (c chapChallenge) pairs() []Pair {
	return []Pair{{"CHAP_A", chapMD5}, {"CHAP_I", strconv.Itoa(int(c.id))}, {"CHAP_C", "0x" + hex.EncodeToString(c.challenge)}}
}

// verify checks the initiator's CHAP_N and CHAP_R against want.
func (c chapChallenge) verify(want *CHAP, kv map[string]string) bool {
	r, err := decodeBinary("CHAP_R", kv["CHAP_R"], md5.Size)
	if err != nil || kv["CHAP_N"] != want.Name {
		return false
	}
	return subtle.ConstantTimeCompare(r, chapResponse(c.id, want.Secret, c.challenge)) == 1
}
