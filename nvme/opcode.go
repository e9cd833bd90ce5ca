package nvme

// Opcode is a command opcode. Admin and I/O opcodes share the type; the
// queue a command is sent on tells them apart.
type Opcode uint8

// Admin command opcodes.
const (
	OpGetLogPage  Opcode = 0x02
	OpIdentify    Opcode = 0x06
	OpAbort       Opcode = 0x08
	OpSetFeatures Opcode = 0x09
	OpGetFeatures Opcode = 0x0a
	OpAsyncEvent  Opcode = 0x0c
	OpKeepAlive   Opcode = 0x18
	OpFabrics     Opcode = 0x7f // fabrics commands, on any queue
)

// I/O (NVM command set) opcodes.
const (
	OpFlush             Opcode = 0x00
	OpWrite             Opcode = 0x01
	OpRead              Opcode = 0x02
	OpWriteZeroes       Opcode = 0x08 // no data; CDW12 bit 25 DEAC asks to deallocate
	OpDatasetManagement Opcode = 0x09 // data: the ranges; CDW11 bit 2 AD: deallocate them
)

// FabricsType is the command type (FCTYPE) of a fabrics command.
type FabricsType uint8

// Fabrics command types.
const (
	FabricsPropertySet FabricsType = 0x00
	FabricsConnect     FabricsType = 0x01
	FabricsPropertyGet FabricsType = 0x04
	FabricsAuthSend    FabricsType = 0x05
	FabricsAuthReceive FabricsType = 0x06
	FabricsDisconnect  FabricsType = 0x08
)
