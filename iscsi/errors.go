package iscsi

import (
	"errors"
	"fmt"
)

// A ProtocolError is a PDU or an exchange that breaks RFC 7143: the
// connection that carried it cannot go on (ErrorRecoveryLevel 0).
type ProtocolError struct {
	Op     Opcode // the PDU's opcode
	Reason string
}

func (e *ProtocolError) Error() string { return fmt.Sprintf("iscsi: %v: %s", e.Op, e.Reason) }

// A DigestError is a header or data digest (CRC32C) that does not match
// the bytes received (RFC 7143 §13.1).
type DigestError struct {
	Op        Opcode
	Header    bool // the header digest, else the data digest
	Got, Want uint32
}

func (e *DigestError) Error() string {
	which := "data"
	if e.Header {
		which = "header"
	}
	return fmt.Sprintf("iscsi: %v: %s digest %#08x, computed %#08x", e.Op, which, e.Got, e.Want)
}

// A LoginError is a Login Response with a status other than success
// (RFC 7143 §11.13.5): Class 1 redirection, 2 initiator error, 3 target
// error.
type LoginError struct {
	Target        string // the TargetName the login was for; empty for discovery
	Class, Detail uint8
}

var loginStatus = map[uint16]string{
	0x0101: "target moved temporarily", 0x0102: "target moved permanently",
	0x0200: "initiator error", 0x0201: "authentication failure", 0x0202: "authorization failure",
	0x0203: "target not found", 0x0204: "target removed", 0x0205: "unsupported version",
	0x0206: "too many connections", 0x0207: "missing parameter", 0x0208: "can't include in session",
	0x0209: "session type not supported", 0x020a: "session does not exist", 0x020b: "invalid during login",
	0x0300: "target error", 0x0301: "service unavailable", 0x0302: "out of resources",
}

func (e *LoginError) Error() string {
	s, ok := loginStatus[uint16(e.Class)<<8|uint16(e.Detail)]
	if !ok {
		s = "unknown status"
	}
	return fmt.Sprintf("iscsi: login to %q: status %02x%02x (%s)", e.Target, e.Class, e.Detail, s)
}

// Login status classes and details a target sends (RFC 7143 §11.13.5).
const (
	loginInitiatorError      = 0x02
	detailAuthFailed         = 0x01
	detailNotFound           = 0x03
	detailMissingParameter   = 0x07
	detailUnsupportedType    = 0x09
	detailInvalidDuringLogin = 0x0b
	loginTargetError         = 0x03
)

// ErrClosed is returned for commands on a session that was closed or
// whose connection failed; the failure that closed it is wrapped beside.
var ErrClosed = errors.New("iscsi: session closed")

// ErrNotISCSI is wrapped in the error of a login whose first answer is
// not a Login Response — a PDU of another opcode, bytes that are no PDU,
// or the connection closed or reset — as from a portal of another
// protocol (HTTP, NVMe/TCP) or a server that closes every connection.
var ErrNotISCSI = errors.New("iscsi: no Login Response from the portal (not an iSCSI target?)")
