package nvme

import "fmt"

// Status is the status field of a completion queue entry without its phase
// tag: Status Code in bits 7:0, Status Code Type in bits 10:8, Command Retry
// Delay in bits 12:11, More in bit 13 and Do Not Retry in bit 14. The zero
// Status is success.
//
// A non-zero Status is an error: functions that run a command return it as
// their error, so callers match it with errors.As or compare Code.
type Status uint16

// Status bits outside the status code.
const (
	StatusMore Status = 1 << 13 // more information in the Error log
	StatusDNR  Status = 1 << 14 // do not retry: the same command fails again
)

// Status codes, each as SCT<<8 | SC.
const (
	StatusSuccess               Status = 0x000
	StatusInvalidOpcode         Status = 0x001
	StatusInvalidField          Status = 0x002
	StatusCIDConflict           Status = 0x003
	StatusDataTransferError     Status = 0x004
	StatusInternalError         Status = 0x006
	StatusAbortRequested        Status = 0x007
	StatusInvalidNamespace      Status = 0x00b
	StatusCommandSequenceError  Status = 0x00c
	StatusSGLInvalidData        Status = 0x00f
	StatusSGLInvalidType        Status = 0x011
	StatusSGLInvalidOffset      Status = 0x016
	StatusTransientTransport    Status = 0x022 // Transient Transport Error: retry on the same controller may succeed
	StatusLBAOutOfRange         Status = 0x080
	StatusCapacityExceeded      Status = 0x081
	StatusNamespaceNotReady     Status = 0x082
	StatusInvalidQueueID        Status = 0x101
	StatusInvalidQueueSize      Status = 0x102
	StatusAsyncEventLimit       Status = 0x105
	StatusInvalidLogPage        Status = 0x109
	StatusFeatureNotSaveable    Status = 0x10d
	StatusConnectIncompatible   Status = 0x180
	StatusConnectControllerBusy Status = 0x181
	StatusConnectInvalidParam   Status = 0x182
	StatusConnectRestartDisc    Status = 0x183
	StatusConnectInvalidHost    Status = 0x184
	StatusWriteFault            Status = 0x280
	StatusUnrecoveredReadError  Status = 0x281
	StatusANAPersistentLoss     Status = 0x301 // Asymmetric Access Persistent Loss (path related)
	StatusANAInaccessible       Status = 0x302 // Asymmetric Access Inaccessible
	StatusANATransition         Status = 0x303 // Asymmetric Access Transition
)

// Code returns the status code type and status code, SCT<<8 | SC, without
// the More, DNR and CRD bits.
func (s Status) Code() Status { return s & 0x7ff }

// SCT returns the status code type.
func (s Status) SCT() uint8 { return uint8(s>>8) & 7 }

// SC returns the status code.
func (s Status) SC() uint8 { return uint8(s) }

// DNR reports whether the Do Not Retry bit is set.
func (s Status) DNR() bool { return s&StatusDNR != 0 }

// Error returns the name of the status and its code, as in
// "Invalid Namespace or Format (0x0b)".
func (s Status) Error() string {
	name, ok := statusNames[s.Code()]
	if !ok {
		name = fmt.Sprintf("Unknown Status (type %d)", s.SCT())
	}
	if s.SCT() == 0 {
		return fmt.Sprintf("%s (0x%02x)", name, s.SC())
	}
	return fmt.Sprintf("%s (0x%03x)", name, uint16(s.Code()))
}

var statusNames = map[Status]string{
	StatusSuccess:               "Successful Completion",
	StatusInvalidOpcode:         "Invalid Command Opcode",
	StatusInvalidField:          "Invalid Field in Command",
	StatusCIDConflict:           "Command ID Conflict",
	StatusDataTransferError:     "Data Transfer Error",
	StatusInternalError:         "Internal Error",
	StatusAbortRequested:        "Command Abort Requested",
	StatusInvalidNamespace:      "Invalid Namespace or Format",
	StatusCommandSequenceError:  "Command Sequence Error",
	StatusSGLInvalidData:        "Invalid SGL Data Block Descriptor",
	StatusSGLInvalidType:        "SGL Descriptor Type Invalid",
	StatusSGLInvalidOffset:      "SGL Offset Invalid",
	StatusTransientTransport:    "Transient Transport Error",
	StatusLBAOutOfRange:         "LBA Out of Range",
	StatusCapacityExceeded:      "Capacity Exceeded",
	StatusNamespaceNotReady:     "Namespace Not Ready",
	StatusInvalidQueueID:        "Invalid Queue Identifier",
	StatusInvalidQueueSize:      "Invalid Queue Size",
	StatusAsyncEventLimit:       "Asynchronous Event Request Limit Exceeded",
	StatusInvalidLogPage:        "Invalid Log Page",
	StatusFeatureNotSaveable:    "Feature Identifier Not Saveable",
	StatusConnectIncompatible:   "Connect Incompatible Format",
	StatusConnectControllerBusy: "Connect Controller Busy",
	StatusConnectInvalidParam:   "Connect Invalid Parameters",
	StatusConnectRestartDisc:    "Connect Restart Discovery",
	StatusConnectInvalidHost:    "Connect Invalid Host",
	StatusWriteFault:            "Write Fault",
	StatusUnrecoveredReadError:  "Unrecovered Read Error",
	StatusANAPersistentLoss:     "Asymmetric Access Persistent Loss",
	StatusANAInaccessible:       "Asymmetric Access Inaccessible",
	StatusANATransition:         "Asymmetric Access Transition",
}
