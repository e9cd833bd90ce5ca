package nvme

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestParseConnectParam decodes dword 0 of Connect responses as Linux's
// nvmet sends them (IPO_IATTR_CONNECT_DATA, IPO_IATTR_CONNECT_SQE) and as
// a careless or hostile controller might.
func TestParseConnectParam(t *testing.T) {
	tests := []struct {
		name   string
		dw0    uint32
		want   ConnectParam
		inData bool
		offset uint16
		field  string
		text   string
	}{
		{"SUBNQN", 1<<16 | 256, ConnectParamSUBNQN, true, 256, "SUBNQN", "SUBNQN"},
		{"HOSTNQN", 1<<16 | 512, ConnectParamHOSTNQN, true, 512, "HOSTNQN", "HOSTNQN"},
		{"HOSTID", 1 << 16, ConnectParamHOSTID, true, 0, "HOSTID", "HOSTID"},
		{"CNTLID", 1<<16 | 16, ConnectParamCNTLID, true, 16, "CNTLID", "CNTLID"},
		{"QID", 42, ConnectParamQID, false, 42, "QID", "QID"},
		{"SQSIZE", 44, ConnectParamSQSIZE, false, 44, "SQSIZE", "SQSIZE"},
		{"KATO", 48, ConnectParamKATO, false, 48, "KATO", "KATO"},
		{"CATTR", 46, ConnectParamCATTR, false, 46, "CATTR", "CATTR"},
		{"RECFMT", 40, ConnectParamRECFMT, false, 40, "RECFMT", "RECFMT"},
		{"InsideSUBNQN", 1<<16 | 300, 1<<16 | 300, true, 300, "SUBNQN", "SUBNQN"},
		{"SecondByteOfKATO", 50, 50, false, 50, "KATO", "KATO"},
		{"ReservedBitsDropped", 0xfffe_0000 | 1<<16 | 512, ConnectParamHOSTNQN, true, 512, "HOSTNQN", "HOSTNQN"},
		{"IATTRHighBitsOnly", 0x00fe_0000 | 42, ConnectParamQID, false, 42, "QID", "QID"},
		{"ReservedData", 1<<16 | 100, 1<<16 | 100, true, 100, "", "byte 100 of the Connect data"},
		{"BeyondData", 1<<16 | 0xffff, 1<<16 | 0xffff, true, 0xffff, "", "byte 65535 of the Connect data"},
		{"Opcode", 0, 0, false, 0, "", "byte 0 of the Connect command"},
		{"ReservedCommand", 47, 47, false, 47, "", "byte 47 of the Connect command"},
		{"BeyondCommand", 0xffff, 0xffff, false, 0xffff, "", "byte 65535 of the Connect command"},
	}
	for _, tt := range tests {
		p := ParseConnectParam(tt.dw0)
		if p != tt.want || p.InData() != tt.inData || p.Offset() != tt.offset || p.Field() != tt.field || p.String() != tt.text {
			t.Errorf("%s: ParseConnectParam(%#x) = %#x (InData %v, Offset %d, Field %q, %q); want %#x (%v, %d, %q, %q)",
				tt.name, tt.dw0, uint32(p), p.InData(), p.Offset(), p.Field(), p.String(), uint32(tt.want), tt.inData, tt.offset, tt.field, tt.text)
		}
	}
}

// TestConnectParamOffsets checks each named parameter's offset against
// where ConnectCommand and ConnectData put the field.
func TestConnectParamOffsets(t *testing.T) {
	cmd := ConnectCommand(0x1234, 0x5679, 0x0abbccdd)
	cmd.CDW11 |= 0x5a << 16 // CATTR
	sqe, _ := cmd.MarshalBinary()
	cd := ConnectData{HostID: [16]byte{0x11, 15: 0x1f}, CNTLID: 0x4321, SubsystemNQN: "nqn.sub", HostNQN: "nqn.host"}
	data, err := cd.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	tests := []struct {
		p    ConnectParam
		want []byte
	}{
		{ConnectParamRECFMT, le.AppendUint16(nil, 0)},
		{ConnectParamQID, le.AppendUint16(nil, 0x1234)},
		{ConnectParamSQSIZE, le.AppendUint16(nil, 0x5678)},
		{ConnectParamCATTR, []byte{0x5a}},
		{ConnectParamKATO, le.AppendUint32(nil, 0x0abbccdd)},
		{ConnectParamHOSTID, cd.HostID[:]},
		{ConnectParamCNTLID, le.AppendUint16(nil, 0x4321)},
		{ConnectParamSUBNQN, []byte("nqn.sub\x00")},
		{ConnectParamHOSTNQN, []byte("nqn.host\x00")},
	}
	for _, tt := range tests {
		b := sqe
		if tt.p.InData() {
			b = data
		}
		if got := b[tt.p.Offset():][:len(tt.want)]; !bytes.Equal(got, tt.want) {
			t.Errorf("%v at offset %d: % x, want % x", tt.p, tt.p.Offset(), got, tt.want)
		}
	}
}
