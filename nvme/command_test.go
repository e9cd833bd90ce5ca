package nvme

import (
	"math"
	"testing"
)

func TestDataDirection(t *testing.T) {
	fabrics := func(ft FabricsType) Command { return Command{Opcode: OpFabrics, NSID: uint32(ft)} }
	tests := []struct {
		name string
		cmd  Command
		want Direction
	}{
		{"PropertySet", PropertySetCommand(PropCC, 1), NoData},
		{"PropertyGet", PropertyGetCommand(PropCAP, 8), NoData},
		{"Connect", ConnectCommand(0, 32, 0), HostToController},
		{"AuthSend", fabrics(FabricsAuthSend), HostToController},
		{"AuthReceive", fabrics(FabricsAuthReceive), ControllerToHost},
		{"Disconnect", fabrics(FabricsDisconnect), NoData},
		{"Identify", IdentifyCommand(CNSController, 0), ControllerToHost},
		{"GetLogPage", GetLogPageCommand(LogDiscovery, 0, 4096, 0), ControllerToHost},
		{"KeepAlive", Command{Opcode: OpKeepAlive}, NoData},
		{"Write", Command{Opcode: OpWrite}, HostToController},
		{"Read", Command{Opcode: OpRead}, ControllerToHost},
	}
	for _, tt := range tests {
		if got := tt.cmd.DataDirection(); got != tt.want {
			t.Errorf("%s: DataDirection = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestLogPageLength(t *testing.T) {
	tests := []struct {
		name         string
		cdw10, cdw11 uint32
		want         int
	}{
		{"NUMD0", 0x0000_0070, 0, 4},
		{"OnePage", 1023<<16 | 0x70, 0, 4096},
		{"NUMDU", 0xffff<<16 | 0x70, 1, 0x2_0000 * 4},
		{"NUMDMax", 0xffff<<16 | 0x70, 0xffff, int(min(uint64(1)<<34, math.MaxInt))},
		{"NUMDUHighBitsIgnored", 1023<<16 | 0x70, 0xffff_0000, 4096},
	}
	for _, tt := range tests {
		c := Command{Opcode: OpGetLogPage, CDW10: tt.cdw10, CDW11: tt.cdw11, CDW12: 8, CDW13: 1}
		lid, n, off := c.LogPage()
		if lid != 0x70 || n != tt.want || off != 1<<32|8 {
			t.Errorf("%s: LogPage = %#x, %d, %#x; want 0x70, %d, 0x100000008", tt.name, lid, n, off, tt.want)
		}
	}
	for _, n := range []int{4, 1024, 4096, 1 << 20} {
		c := GetLogPageCommand(LogDiscovery, 0, n, 0)
		if _, got, _ := c.LogPage(); got != n {
			t.Errorf("GetLogPageCommand(%d): LogPage length %d", n, got)
		}
	}
}

// FuzzCommandFields: the accessors of any 64-byte command stay within
// what their fields can encode.
func FuzzCommandFields(f *testing.F) {
	for _, c := range []Command{
		GetLogPageCommand(LogDiscovery, 0, 4096, 0),
		{Opcode: OpGetLogPage, CDW10: 0xffff_0070, CDW11: 0xffff_ffff},
		ConnectCommand(0, 32, 10000),
		PropertyGetCommand(PropCAP, 8),
		{Opcode: OpFabrics, NSID: 0xff},
	} {
		b, _ := c.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Command
		if c.UnmarshalBinary(b) != nil {
			return
		}
		if d := c.DataDirection(); d > Bidirectional {
			t.Fatalf("DataDirection %d", d)
		}
		numd := uint64(c.CDW10>>16 | (c.CDW11&0xffff)<<16)
		if _, n, _ := c.LogPage(); n < 4 || n%4 != 0 || uint64(n) != min((numd+1)*4, math.MaxInt) {
			t.Fatalf("LogPage length %d for NUMD %d", n, numd)
		}
		if _, sqsize, _ := c.ConnectQueue(); sqsize < 1 || sqsize > 1<<16 {
			t.Fatalf("ConnectQueue SQSIZE %d", sqsize)
		}
		sgl := c.SGL()
		c.SetSGL(sgl)
		if c.SGL() != sgl {
			t.Fatalf("SGL %+v does not survive SetSGL: %+v", sgl, c.SGL())
		}
	})
}
