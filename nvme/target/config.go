package target

import (
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
	defaultIOQueues        = 16
	defaultMaxNSID         = 1024
	mdts                   = 8 // 2^8 pages of 4 KiB: 1 MiB per command
	maxTransfer            = 4096 << mdts
	aerLimit               = 4
)

// Config configures a Target. The zero value serves DefaultNQN with no
// namespaces.
type Config struct {
	NQN      string // subsystem NQN; DefaultNQN if empty
	Serial   string // serial number (20 characters at most); derived from NQN if empty
	Model    string // model number (40 characters at most)
	Firmware string // firmware revision (8 characters at most)

	// Namespaces creates NSIDs 1..Namespaces of NamespaceSize bytes with
	// BlockSize-byte blocks.
	Namespaces    int
	NamespaceSize uint64 // 0 means DefaultNSSize
	BlockSize     uint32 // 0 means DefaultBlockSize
	// MaxNSID is the largest NSID (Identify Controller NN); 0 means
	// max(1024, Namespaces).
	MaxNSID uint32

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
	// ServiceTime is how long the controller takes to execute each admin
	// or I/O command (fabrics commands are immediate).
	ServiceTime time.Duration

	Faults Faults

	// Limits bound what hosts may make the target hold: connections,
	// time-outs and write buffers. Zero fields take their defaults.
	Limits Limits

	// Logger, if not nil, receives connects, disconnects and teardowns.
	Logger *slog.Logger
}

func (t *Target) checkConfig() error {
	c := &t.cfg
	switch {
	case c.AdminQueueDepth < 2 || c.AdminQueueDepth > MaxAdminQueueDepth:
		return fmt.Errorf("%w: admin queue depth %d not in 2..%d", ErrInvalidConfig, c.AdminQueueDepth, MaxAdminQueueDepth)
	case c.IOQueueDepth < 2 || c.IOQueueDepth > MaxIOQueueDepth:
		return fmt.Errorf("%w: I/O queue depth %d not in 2..%d", ErrInvalidConfig, c.IOQueueDepth, MaxIOQueueDepth)
	case c.Limits.check() != nil:
		return c.Limits.check()
	case c.IOQueues < 1 || c.IOQueues > 0xffff:
		return fmt.Errorf("%w: %d I/O queues", ErrInvalidConfig, c.IOQueues)
	case c.Namespaces < 0 || uint64(c.Namespaces) > uint64(c.MaxNSID):
		return fmt.Errorf("%w: %d namespaces, largest NSID %d", ErrInvalidConfig, c.Namespaces, c.MaxNSID)
	case c.MaxNSID >= nvme.NSIDAll-1:
		return fmt.Errorf("%w: largest NSID %#x", ErrInvalidConfig, c.MaxNSID)
	case len(c.NQN) > 223:
		return fmt.Errorf("%w: NQN longer than 223 bytes", ErrInvalidConfig)
	case c.NQN == nvme.DiscoveryNQN:
		return fmt.Errorf("%w: the subsystem NQN cannot be the discovery NQN", ErrInvalidConfig)
	case c.Delay < 0 || c.ServiceTime < 0:
		return fmt.Errorf("%w: negative delay", ErrInvalidConfig)
	}
	return nil
}
