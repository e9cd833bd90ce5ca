package nvme

import "fmt"

// ConnectParam names the parameter a controller refused when it fails a
// Connect command with Connect Invalid Parameters: it is dword 0 of the
// Connect response in that case (NVMe over Fabrics Specification,
// "Connect Response"): IPO, the byte offset of the invalid parameter, in
// bits 15:0, and IATTR in bits 23:16, whose bit 0 says where that offset
// points: 0 into the Connect command (the submission queue entry), 1 into
// the Connect data. Linux's nvmet fills it the same way, and its host
// decodes it in nvmf_log_connect_error.
type ConnectParam uint32

// The parameters of a Connect command, as ConnectParam values: each one's
// offset, and for those of the Connect data the IATTR bit.
const (
	ConnectParamRECFMT  ConnectParam = 40                 // record format, command bytes 41:40
	ConnectParamQID     ConnectParam = 42                 // queue ID, command bytes 43:42
	ConnectParamSQSIZE  ConnectParam = 44                 // submission queue size, 0's based, command bytes 45:44
	ConnectParamCATTR   ConnectParam = 46                 // connect attributes, command byte 46
	ConnectParamKATO    ConnectParam = 48                 // keep alive timeout in ms, command bytes 51:48
	ConnectParamHOSTID  ConnectParam = connectParamInData // offset 0
	ConnectParamCNTLID  ConnectParam = connectParamInData | 16
	ConnectParamSUBNQN  ConnectParam = connectParamInData | 256
	ConnectParamHOSTNQN ConnectParam = connectParamInData | 512

	connectParamInData ConnectParam = 1 << 16 // IATTR bit 0
)

// ParseConnectParam returns the parameter named by dword 0 of a Connect
// response that failed with Connect Invalid Parameters, keeping IPO and
// IATTR bit 0 and dropping the reserved bits.
func ParseConnectParam(dw0 uint32) ConnectParam {
	return ConnectParam(dw0) & (connectParamInData | 0xffff)
}

// InData reports whether the parameter is in the Connect data (IATTR bit
// 0 set) rather than in the command.
func (p ConnectParam) InData() bool { return p&connectParamInData != 0 }

// Offset returns IPO: the byte offset of the parameter in the Connect
// data if InData, else in the 64-byte command.
func (p ConnectParam) Offset() uint16 { return uint16(p) }

// connectFields are the Connect parameters by where they lie: IATTR bit 0,
// and the bytes [start, end) of the command or the data.
var connectFields = [...]struct {
	inData     bool
	start, end uint16
	name       string
}{
	{false, 40, 42, "RECFMT"},
	{false, 42, 44, "QID"},
	{false, 44, 46, "SQSIZE"},
	{false, 46, 47, "CATTR"},
	{false, 48, 52, "KATO"},
	{true, 0, 16, "HOSTID"},
	{true, 16, 18, "CNTLID"},
	{true, 256, 512, "SUBNQN"},
	{true, 512, 768, "HOSTNQN"},
}

// Field returns the specification's name of the field that holds the
// parameter's offset ("SUBNQN", "HOSTNQN", "HOSTID", "CNTLID", "SQSIZE",
// "QID", "KATO", "CATTR" or "RECFMT"); an offset inside a field names it
// too. It returns "" for an offset outside these fields.
func (p ConnectParam) Field() string {
	for _, f := range connectFields {
		if f.inData == p.InData() && f.start <= p.Offset() && p.Offset() < f.end {
			return f.name
		}
	}
	return ""
}

// String returns the field's name, or where an unnamed offset lies, as in
// "byte 300 of the Connect data" or "byte 20 of the Connect command".
func (p ConnectParam) String() string {
	if f := p.Field(); f != "" {
		return f
	}
	where := "command"
	if p.InData() {
		where = "data"
	}
	return fmt.Sprintf("byte %d of the Connect %s", p.Offset(), where)
}
