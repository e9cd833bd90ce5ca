package target

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/complchain/complchain/nvme/tcp"
)

// Errors returned by Attach, Detach, WriteAt, ReadAt and New's checks.
var (
	ErrNamespaceExists  = errors.New("target: namespace already attached")
	ErrNoNamespace      = errors.New("target: no such namespace")
	ErrInvalidNamespace = errors.New("target: invalid namespace")
	ErrInvalidConfig    = errors.New("target: invalid configuration")
	ErrClosed           = errors.New("target: closed")
)

// Target is an emulated NVM subsystem and its discovery subsystem. Create
// it with New; its methods are safe for concurrent use.
type Target struct {
	cfg   Config
	log   *slog.Logger
	start time.Time

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // Start's serve loops

	faults atomic.Pointer[Faults]

	mu      sync.RWMutex
	ns      map[uint32]*namespace
	nsids   []uint32 // sorted active NSIDs
	ctrls   map[uint16]*controller
	nextCID uint16

	conns  connCounter
	budget *tcp.Budget // write data of all connections
	reads  *tcp.Budget // read data of all connections
	warn   warnLimiter

	stats smartCounters
}

type smartCounters struct {
	reads, writes             atomic.Uint64
	blocksRead, blocksWritten atomic.Uint64 // 512-byte units
}

// New returns a Target for cfg, or an error wrapping ErrInvalidConfig
// (or ErrInvalidNamespace) that names the first invalid field.
func New(cfg Config) (*Target, error) {
	if cfg.NQN == "" {
		cfg.NQN = DefaultNQN
	}
	if cfg.Serial == "" {
		_, eui, _ := deriveIDs(cfg.NQN, 0)
		cfg.Serial = fmt.Sprintf("CC%08X", uint32(eui[0])<<24|uint32(eui[1])<<16|uint32(eui[2])<<8|uint32(eui[3]))
	}
	if cfg.Model == "" {
		cfg.Model = "complchain emulated NVMe/TCP"
	}
	if cfg.Firmware == "" {
		cfg.Firmware = "1.0"
	}
	if cfg.AdminQueueDepth == 0 {
		cfg.AdminQueueDepth = DefaultAdminQueueDepth
	}
	if cfg.IOQueueDepth == 0 {
		cfg.IOQueueDepth = DefaultIOQueueDepth
	}
	cfg.Limits.setDefaults()
	if cfg.IOQueues == 0 {
		cfg.IOQueues = defaultIOQueues
	}
	if cfg.MaxNSID == 0 {
		cfg.MaxNSID = uint32(max(defaultMaxNSID, cfg.Namespaces))
	}
	if cfg.NamespaceSize == 0 {
		cfg.NamespaceSize = DefaultNSSize
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	t := &Target{
		cfg:   cfg,
		log:   cfg.Logger,
		start: time.Now(),
		ns:    make(map[uint32]*namespace),
		ctrls: make(map[uint16]*controller),
	}
	t.budget = tcp.NewBudget(t.cfg.Limits.WriteBudget)
	t.reads = tcp.NewBudget(t.cfg.Limits.ReadBudget)
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	f := cfg.Faults
	t.faults.Store(&f)
	if err := t.checkConfig(); err != nil {
		t.cancel()
		return nil, err
	}
	for id := 1; id <= cfg.Namespaces; id++ {
		if err := t.Attach(Namespace{NSID: uint32(id)}); err != nil {
			t.cancel()
			return nil, err
		}
	}
	return t, nil
}

// NQN returns the subsystem NQN.
func (t *Target) NQN() string { return t.cfg.NQN }

func (t *Target) controllersLocked() []*controller {
	out := make([]*controller, 0, len(t.ctrls))
	for _, c := range t.ctrls {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *controller) int { return cmp.Compare(a.id, b.id) })
	return out
}

// addController registers c under a free controller ID.
func (t *Target) addController(c *controller) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ctrls) >= maxCntlid {
		return false
	}
	for {
		t.nextCID = t.nextCID%maxCntlid + 1
		if _, used := t.ctrls[t.nextCID]; !used {
			break
		}
	}
	c.id = t.nextCID
	t.ctrls[c.id] = c
	return true
}

func (t *Target) removeController(c *controller) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctrls[c.id] == c {
		delete(t.ctrls, c.id)
	}
}

func (t *Target) controller(id uint16) *controller {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.ctrls[id]
}
