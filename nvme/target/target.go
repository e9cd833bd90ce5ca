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

// Target is an NVMe over Fabrics target: emulated NVM subsystems and the
// discovery subsystem. Create it with New; its methods are safe for
// concurrent use.
type Target struct {
	cfg   Config
	log   *slog.Logger
	start time.Time
	subs  []*Subsystem          // in Config order
	byNQN map[string]*Subsystem // read only after New
	// connectDelays is set if a subsystem or port delays Connect.
	connectDelays atomic.Bool

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // Start's serve loops

	faults atomic.Pointer[Faults]

	// mu guards the fabric: controllers, ports, referrals and the
	// discovery log's generation counter.
	mu        sync.RWMutex
	ctrls     map[uint16]*controller
	nextCID   uint16
	ports     map[uint16]*Port
	referrals []Referral
	genctr    uint64       // GENCTR of the discovery log
	discReads atomic.Int64 // discovery log reads, for Faults.DiscoveryChanges

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
// that names the first invalid field, such as "Subsystems[1].NQN".
func New(cfg Config) (*Target, error) {
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
	t := &Target{
		cfg:   cfg,
		log:   cfg.Logger,
		start: time.Now(),
		byNQN: make(map[string]*Subsystem),
		ctrls: make(map[uint16]*controller),
		ports: make(map[uint16]*Port),
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if err := t.checkConfig(); err != nil {
		return nil, err
	}
	scs, err := cfg.subsystemConfigs()
	if err != nil {
		return nil, err
	}
	for i, sc := range scs {
		field := ""
		if len(cfg.Subsystems) > 0 {
			field = fmt.Sprintf("Subsystems[%d].", i)
		}
		s, err := newSubsystem(t, sc, field)
		if err != nil {
			return nil, err
		}
		if _, dup := t.byNQN[s.cfg.NQN]; dup {
			return nil, fmt.Errorf("%w: %sNQN %q served twice", ErrInvalidConfig, field, s.cfg.NQN)
		}
		if s.cfg.ConnectDelay > 0 {
			t.connectDelays.Store(true)
		}
		if s.access.any {
			t.log.Info("subsystem allows any host", "subnqn", s.cfg.NQN)
		}
		t.subs = append(t.subs, s)
		t.byNQN[s.cfg.NQN] = s
	}
	for i, r := range cfg.Referrals {
		if err := t.addReferral(r, fmt.Sprintf("Referrals[%d].", i)); err != nil {
			return nil, err
		}
	}
	t.budget = tcp.NewBudget(t.cfg.Limits.WriteBudget)
	t.reads = tcp.NewBudget(t.cfg.Limits.ReadBudget)
	t.ctx, t.cancel = context.WithCancel(context.Background())
	f := cfg.Faults
	t.faults.Store(&f)
	return t, nil
}

// controllers returns the controllers of subsystem s in CNTLID order.
func (t *Target) controllers(s *Subsystem) []*controller {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []*controller
	for _, c := range t.ctrls {
		if c.sub == s {
			out = append(out, c)
		}
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
