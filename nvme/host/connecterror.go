package host

import (
	"fmt"

	"github.com/complchain/complchain/nvme"
)

// ConnectError is returned by Connect when the controller refused the
// Connect command: Status says why, and for Connect Invalid Parameters
// (SCT 1h SC 82h) Param() names the refused field from the response's
// dword 0 (IATTR and IPO, NVMe over Fabrics Specification, "Connect
// Response"). Command and Data are what was sent, so that the message can
// quote the refused value, as Linux's nvmf_log_connect_error does.
type ConnectError struct {
	Addr    string           // host:port of the controller
	Command nvme.Command     // the Connect command sent
	Data    nvme.ConnectData // its Connect data
	Status  nvme.Status      // the completion's status
	Result  uint32           // the completion's dword 0
}

// Param returns the parameter the controller named as invalid: dword 0
// decoded by nvme.ParseConnectParam. It means something only when
// Status is Connect Invalid Parameters.
func (e *ConnectError) Param() nvme.ConnectParam { return nvme.ParseConnectParam(e.Result) }

// Error says which subsystem at which address refused the Connect, then
// Reason. NQNs are quoted with %q, since a caller may print the message to
// a terminal.
func (e *ConnectError) Error() string {
	return fmt.Sprintf("connect to %q at %s: %s", e.Data.SubsystemNQN, e.Addr, e.Reason())
}

// Reason says why the controller refused, as far as the status tells: the
// refused field and the value sent in it for Connect Invalid Parameters,
// the host NQN for Connect Invalid Host, what Restart Discovery and
// Controller Busy mean; then the status.
func (e *ConnectError) Reason() string {
	switch e.Status.Code() {
	case nvme.StatusConnectInvalidParam:
		return "controller refused " + e.paramValue() + " (" + e.Status.Error() + ")"
	case nvme.StatusConnectInvalidHost:
		return fmt.Sprintf("host NQN %q not allowed by subsystem %q (%v)", e.Data.HostNQN, e.Data.SubsystemNQN, e.Status)
	case nvme.StatusConnectRestartDisc:
		return fmt.Sprintf("subsystem not available here; discover it again (%v)", e.Status)
	case nvme.StatusConnectControllerBusy:
		return fmt.Sprintf("controller busy or not available (%v)", e.Status)
	case nvme.StatusConnectIncompatible:
		qid, _, _ := e.Command.ConnectQueue()
		return fmt.Sprintf("RECFMT %d of queue %d not supported (%v)", uint16(e.Command.CDW10), qid, e.Status)
	}
	return e.Status.Error()
}

// paramValue names the refused parameter and the value sent in it.
func (e *ConnectError) paramValue() string {
	qid, sqsize, kato := e.Command.ConnectQueue()
	switch p := e.Param(); p.Field() {
	case "SUBNQN":
		return fmt.Sprintf("SUBNQN %q", e.Data.SubsystemNQN)
	case "HOSTNQN":
		return fmt.Sprintf("HOSTNQN %q", e.Data.HostNQN)
	case "HOSTID":
		return "HOSTID " + string(nvme.AppendUUID(nil, e.Data.HostID))
	case "CNTLID":
		return fmt.Sprintf("CNTLID %#x", e.Data.CNTLID)
	case "QID":
		return fmt.Sprintf("QID %d", qid)
	case "SQSIZE":
		return fmt.Sprintf("SQSIZE %d (%d entries) of queue %d", sqsize-1, sqsize, qid)
	case "KATO":
		return fmt.Sprintf("KATO %d ms", kato)
	case "CATTR":
		return fmt.Sprintf("CATTR %#x", uint8(e.Command.CDW11>>16))
	case "RECFMT":
		return fmt.Sprintf("RECFMT %d", uint16(e.Command.CDW10))
	default:
		return p.String()
	}
}

// Unwrap returns Status.
func (e *ConnectError) Unwrap() error { return e.Status }
