package iscsi

import "fmt"

// Opcode is the opcode of a PDU (RFC 7143 §11.2.1.2): byte 0, bits 0-5.
type Opcode uint8

// Initiator opcodes (RFC 7143 §11.2.1.2).
const (
	OpNOPOut      Opcode = 0x00
	OpSCSICommand Opcode = 0x01
	OpTaskMgmtReq Opcode = 0x02
	OpLoginReq    Opcode = 0x03
	OpTextReq     Opcode = 0x04
	OpDataOut     Opcode = 0x05
	OpLogoutReq   Opcode = 0x06
	OpSNACKReq    Opcode = 0x10
)

// Target opcodes (RFC 7143 §11.2.1.2).
const (
	OpNOPIn        Opcode = 0x20
	OpSCSIResponse Opcode = 0x21
	OpTaskMgmtResp Opcode = 0x22
	OpLoginResp    Opcode = 0x23
	OpTextResp     Opcode = 0x24
	OpDataIn       Opcode = 0x25
	OpLogoutResp   Opcode = 0x26
	OpR2T          Opcode = 0x31
	OpAsyncMessage Opcode = 0x32
	OpReject       Opcode = 0x3f
)

var opNames = map[Opcode]string{
	OpNOPOut: "NOP-Out", OpSCSICommand: "SCSI Command", OpTaskMgmtReq: "Task Management Function Request",
	OpLoginReq: "Login Request", OpTextReq: "Text Request", OpDataOut: "SCSI Data-Out",
	OpLogoutReq: "Logout Request", OpSNACKReq: "SNACK Request",
	OpNOPIn: "NOP-In", OpSCSIResponse: "SCSI Response", OpTaskMgmtResp: "Task Management Function Response",
	OpLoginResp: "Login Response", OpTextResp: "Text Response", OpDataIn: "SCSI Data-In",
	OpLogoutResp: "Logout Response", OpR2T: "R2T", OpAsyncMessage: "Asynchronous Message", OpReject: "Reject",
}

func (o Opcode) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("opcode %#02x", uint8(o))
}

// FromTarget reports whether o is an opcode a target sends.
func (o Opcode) FromTarget() bool { return o&0x20 != 0 }

// Flags of byte 1.
const (
	FlagFinal    = 0x80 // F: final PDU of a sequence (SCSI Command, Data, Text, …)
	FlagContinue = 0x40 // C: Text and Login: more text follows in the next PDU
	FlagTransit  = 0x80 // T: Login: transit to the next stage
	FlagRead     = 0x40 // R: SCSI Command: data-in expected
	FlagWrite    = 0x20 // W: SCSI Command: data-out expected
	FlagAck      = 0x40 // A: Data-In: acknowledgement requested
	FlagOverflow = 0x04 // O: residual overflow
	FlagUnder    = 0x02 // U: residual underflow
	FlagStatus   = 0x01 // S: Data-In carries the command's status
	flagImm      = 0x40 // I: byte 0, immediate delivery
)

// ReservedTag is the reserved value of Initiator and Target Task Tags
// (0xffffffff, RFC 7143 §11.2.1.8).
const ReservedTag = 0xffffffff

// Login stages (CSG and NSG, RFC 7143 §11.12.3).
const (
	StageSecurity    = 0
	StageOperational = 1
	StageFullFeature = 3
)

// Task attributes of a SCSI Command (RFC 7143 §11.3.1.1).
const AttrSimple = 1
