package target

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"

	"github.com/complchain/complchain/nvme"
)

// DefaultNQN is the subsystem NQN used when Config.NQN is empty.
const DefaultNQN = "nqn.2026-01.io.complchain:target"

// Limits of the configuration.
const (
	DefaultAdminQueueDepth = 32   // Linux's NVMET_AQ_DEPTH
	DefaultIOQueueDepth    = 1024 // Linux's NVMET_QUEUE_SIZE
	MaxAdminQueueDepth     = 4096 // AQA.ASQS is a 12-bit 0's based value
	MaxIOQueueDepth        = 65536
	DefaultNSSize          = 1 << 30
	DefaultBlockSize       = 512
	MaxSubsystems          = 1024 // NVM subsystems in one Target
	defaultIOQueues        = 16
	defaultMaxNSID         = 1024
	mdts                   = 8 // 2^8 pages of 4 KiB: 1 MiB per command
	maxTransfer            = 4096 << mdts
	aerLimit               = 4
)

// Config configures a Target. The zero value serves one subsystem,
// DefaultNQN, with no namespaces.
//
// A Target serves the NVM subsystems Subsystems lists; when that is empty,
// it serves one, described by the fields NQN to MaxNSID (New rejects a
// Config that sets both). The other fields apply to the whole Target.
type Config struct {
	NQN      string // subsystem NQN; DefaultNQN if empty
	Serial   string // serial number (20 bytes at most); derived from NQN if empty
	Model    string // model number (40 bytes at most)
	Firmware string // firmware revision (8 bytes at most)

	// Namespaces creates NSIDs 1..Namespaces of NamespaceSize bytes with
	// BlockSize-byte blocks.
	Namespaces    int
	NamespaceSize uint64 // 0 means DefaultNSSize
	BlockSize     uint32 // 0 means DefaultBlockSize
	// MaxNSID is the largest NSID (Identify Controller NN); 0 means
	// max(1024, Namespaces).
	MaxNSID uint32

	// Subsystems lists the NVM subsystems, at most MaxSubsystems, with
	// distinct NQNs; the first is the one Target.Attach, Detach, NQN and
	// the other single-subsystem methods act on.
	Subsystems []SubsystemConfig

	// Referrals are other discovery controllers the discovery log lists
	// after the NVM subsystems (Target.AddReferral adds more).
	Referrals []Referral

	// AdminQueueDepth is the deepest admin queue a host may create
	// (discovery log ASQSZ); 0 means 32, at most 4096.
	AdminQueueDepth int
	// IOQueueDepth is the deepest I/O queue a host may create (CAP.MQES+1,
	// Identify MAXCMD); 0 means 1024, at most 65536.
	IOQueueDepth int
	// IOQueues is the number of I/O queues granted per controller; 0 means 16.
	IOQueues int

	// Delay is the one-way link delay added to every accepted connection
	// in each direction (round trip = 2 × Delay).
	Delay time.Duration
	// ServiceTime is how long a controller of any subsystem takes to
	// execute each admin or I/O command (fabrics commands are immediate).
	ServiceTime time.Duration

	// Faults apply to every connection and every subsystem.
	Faults Faults

	// Limits bound what hosts may make the target hold: connections,
	// time-outs and write buffers. Zero fields take their defaults.
	Limits Limits

	// Logger, if not nil, receives connects, disconnects and teardowns.
	Logger *slog.Logger
}

// SubsystemConfig configures one NVM subsystem of a Target. Zero fields
// take the defaults of the Config fields of the same names.
type SubsystemConfig struct {
	NQN      string // subsystem NQN, at most 223 bytes; required
	Serial   string // serial number (20 bytes at most); derived from NQN if empty
	Model    string // model number (40 bytes at most)
	Firmware string // firmware revision (8 bytes at most)

	// Namespaces creates NSIDs 1..Namespaces of NamespaceSize bytes with
	// BlockSize-byte blocks; NamespaceList adds namespaces with NSIDs of
	// their own (none of them in 1..Namespaces, none twice).
	Namespaces    int
	NamespaceList []Namespace
	NamespaceSize uint64 // 0 means DefaultNSSize
	BlockSize     uint32 // 0 means DefaultBlockSize
	// MaxNSID is the largest NSID (Identify Controller NN); 0 means
	// max(1024, Namespaces, the largest NSID in NamespaceList).
	MaxNSID uint32

	// AllowedHosts are the host NQNs that may connect to the subsystem
	// and find it in the discovery log; empty means any host may, and New
	// logs that. Others get Connect Invalid Host (status 184h).
	AllowedHosts []string

	// ServiceTime is added to Config.ServiceTime for the commands of this
	// subsystem's controllers.
	ServiceTime time.Duration
	// ConnectDelay is added to each Connect that creates a controller of
	// the subsystem (besides PortConfig.ConnectDelay), and IdentifyDelay
	// to each Identify command on its controllers: tests make the
	// controllers of a fabric answer in the order they choose.
	ConnectDelay, IdentifyDelay time.Duration
	// Faults are injected on this subsystem's controllers besides
	// Config.Faults; their namespace faults (Status, Delay, IdentifyDelay,
	// Hang, NoNSIDList, Identify) apply, DropAfter and MalformedAfter must be
	// zero: they concern connections, which Config.Faults covers.
	Faults Faults
}

// subsystemConfigs returns the subsystems c describes: c.Subsystems, or
// the one subsystem of c's single-subsystem fields.
func (c *Config) subsystemConfigs() ([]SubsystemConfig, error) {
	if len(c.Subsystems) == 0 {
		return []SubsystemConfig{{
			NQN: cmp.Or(c.NQN, DefaultNQN), Serial: c.Serial, Model: c.Model, Firmware: c.Firmware,
			Namespaces: c.Namespaces, NamespaceSize: c.NamespaceSize, BlockSize: c.BlockSize, MaxNSID: c.MaxNSID,
		}}, nil
	}
	single := c.NQN != "" || c.Serial != "" || c.Model != "" || c.Firmware != "" ||
		c.Namespaces != 0 || c.NamespaceSize != 0 || c.BlockSize != 0 || c.MaxNSID != 0
	if single {
		return nil, fmt.Errorf("%w: Subsystems set together with NQN, Serial, Model, Firmware, Namespaces, NamespaceSize, BlockSize or MaxNSID",
			ErrInvalidConfig)
	}
	return c.Subsystems, nil
}

// checkConfig checks the fields of t.cfg that concern the whole Target.
func (t *Target) checkConfig() error {
	c := &t.cfg
	switch {
	case c.AdminQueueDepth < 2 || c.AdminQueueDepth > MaxAdminQueueDepth:
		return fmt.Errorf("%w: AdminQueueDepth %d not in 2..%d", ErrInvalidConfig, c.AdminQueueDepth, MaxAdminQueueDepth)
	case c.IOQueueDepth < 2 || c.IOQueueDepth > MaxIOQueueDepth:
		return fmt.Errorf("%w: IOQueueDepth %d not in 2..%d", ErrInvalidConfig, c.IOQueueDepth, MaxIOQueueDepth)
	case c.Limits.check() != nil:
		return c.Limits.check()
	case c.IOQueues < 1 || c.IOQueues > 0xffff:
		return fmt.Errorf("%w: IOQueues %d not in 1..65535", ErrInvalidConfig, c.IOQueues)
	case c.Delay < 0:
		return fmt.Errorf("%w: Delay %v is negative", ErrInvalidConfig, c.Delay)
	case c.ServiceTime < 0:
		return fmt.Errorf("%w: ServiceTime %v is negative", ErrInvalidConfig, c.ServiceTime)
	case len(c.Subsystems) > MaxSubsystems:
		return fmt.Errorf("%w: %d Subsystems, at most %d", ErrInvalidConfig, len(c.Subsystems), MaxSubsystems)
	}
	return nil
}

// check checks a subsystem's configuration, defaults filled in; field
// is its name in errors, such as "Subsystems[2]." or "".
func (sc *SubsystemConfig) check(field string) error {
	if err := checkNQN(sc.NQN); err != nil {
		return fmt.Errorf("%w: %sNQN %w", ErrInvalidConfig, field, err)
	}
	switch {
	case sc.NQN == nvme.DiscoveryNQN:
		return fmt.Errorf("%w: %sNQN is the discovery NQN", ErrInvalidConfig, field)
	case len(sc.Serial) > 20:
		return fmt.Errorf("%w: %sSerial is %d bytes long, at most 20", ErrInvalidConfig, field, len(sc.Serial))
	case len(sc.Model) > 40:
		return fmt.Errorf("%w: %sModel is %d bytes long, at most 40", ErrInvalidConfig, field, len(sc.Model))
	case len(sc.Firmware) > 8:
		return fmt.Errorf("%w: %sFirmware is %d bytes long, at most 8", ErrInvalidConfig, field, len(sc.Firmware))
	case sc.Namespaces < 0:
		return fmt.Errorf("%w: %sNamespaces %d is negative", ErrInvalidConfig, field, sc.Namespaces)
	case sc.MaxNSID >= nvme.NSIDAll-1:
		return fmt.Errorf("%w: %sMaxNSID %#x not below %#x", ErrInvalidConfig, field, sc.MaxNSID, uint32(nvme.NSIDAll-1))
	case uint64(sc.Namespaces) > uint64(sc.MaxNSID):
		return fmt.Errorf("%w: %sNamespaces %d above MaxNSID %d", ErrInvalidConfig, field, sc.Namespaces, sc.MaxNSID)
	case sc.BlockSize != 512 && sc.BlockSize != 4096:
		return fmt.Errorf("%w: %sBlockSize %d, want 512 or 4096", ErrInvalidConfig, field, sc.BlockSize)
	case sc.NamespaceSize%uint64(sc.BlockSize) != 0:
		return fmt.Errorf("%w: %sNamespaceSize %d not a multiple of BlockSize %d", ErrInvalidConfig, field, sc.NamespaceSize, sc.BlockSize)
	case sc.ServiceTime < 0:
		return fmt.Errorf("%w: %sServiceTime %v is negative", ErrInvalidConfig, field, sc.ServiceTime)
	case sc.ConnectDelay < 0:
		return fmt.Errorf("%w: %sConnectDelay %v is negative", ErrInvalidConfig, field, sc.ConnectDelay)
	case sc.IdentifyDelay < 0:
		return fmt.Errorf("%w: %sIdentifyDelay %v is negative", ErrInvalidConfig, field, sc.IdentifyDelay)
	case sc.Faults.DropAfter != 0 || sc.Faults.MalformedAfter != 0 || sc.Faults.DiscoveryChanges != 0:
		return fmt.Errorf("%w: %sFaults.DropAfter, MalformedAfter and DiscoveryChanges belong in Config.Faults", ErrInvalidConfig, field)
	}
	return checkHosts(sc.AllowedHosts, field)
}

// setDefaults fills in sc's zero fields.
func (sc *SubsystemConfig) setDefaults() {
	if sc.Serial == "" {
		_, eui, _ := deriveIDs(sc.NQN, 0)
		sc.Serial = fmt.Sprintf("CC%08X", uint32(eui[0])<<24|uint32(eui[1])<<16|uint32(eui[2])<<8|uint32(eui[3]))
	}
	sc.Model = cmp.Or(sc.Model, "complchain emulated NVMe/TCP")
	sc.Firmware = cmp.Or(sc.Firmware, "1.0")
	if sc.NamespaceSize == 0 {
		sc.NamespaceSize = DefaultNSSize
	}
	if sc.BlockSize == 0 {
		sc.BlockSize = DefaultBlockSize
	}
	if sc.MaxNSID == 0 {
		m := uint64(max(defaultMaxNSID, sc.Namespaces))
		for _, ns := range sc.NamespaceList {
			m = max(m, uint64(ns.NSID))
		}
		sc.MaxNSID = uint32(min(m, nvme.NSIDAll-2))
	}
}
