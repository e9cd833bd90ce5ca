// Package target is an emulated NVM subsystem served over NVMe/TCP: the
// software counterpart of Linux's nvmet-tcp, for tests, benchmarks and the
// complchain CLI. A real Linux host can discover it, connect to it and use
// its namespaces as block devices.
//
// A Target holds one NVM subsystem (its NQN, serial and model, namespaces
// that can be attached and detached at run time) and answers on the same
// port for the discovery subsystem, nqn.2014-08.org.nvmexpress.discovery,
// whose log page lists the NVM subsystem at the listener's address.
// Controllers are created dynamically by Connect commands (cntlid 0xFFFF),
// each with an admin queue and I/O queues on further connections.
//
// # Use
//
// New builds a Target from a Config; Serve serves it on a listener, and
// Start is the shortcut tests, benchmarks and the CLI use: it listens on
// 127.0.0.1:0 (or a given address), serves in the background and returns
// the address. Close stops everything. Attach and Detach change the
// namespaces at run time; SetFaults changes the injected faults.
//
//	t := target.New(target.Config{Namespaces: 100, Delay: 75 * time.Millisecond})
//	defer t.Close()
//	addr, err := t.Start(ctx, "")
//
// # Controller model
//
// The target reports NVMe version 1.4. With it a Linux 6.1 host uses the
// Identify CNS 02h namespace list, reads the namespace identification
// descriptors (CNS 03h) and then Identify Namespace (CNS 00h); CNS 06h and
// 08h are answered as well, so newer hosts find what they ask for.
//
// The properties follow the controller state machine of the base
// specification: setting CC.EN raises CSTS.RDY, clearing it drops RDY and
// closes the controller's I/O queues, and a shutdown notification (CC.SHN)
// completes at once (CSTS.SHST = 10b). Admin and I/O commands other than
// fabrics commands fail with Command Sequence Error until CSTS.RDY is set.
//
// Queue sizes follow Linux's nvmet: I/O queues of up to
// Config.IOQueueDepth entries (default 1024, reported as CAP.MQES+1 and
// MAXCMD), and admin queues of up to Config.AdminQueueDepth entries
// (default 32, reported as ASQSZ in the discovery log page). A Connect
// asking for more fails with Connect Invalid Parameters on SQSIZE. A Linux
// host's I/O queues of 128 entries fit, with no "clamping down" in its log.
//
// Keep Alive: a controller connected with a non-zero KATO is torn down —
// its admin and I/O connections closed — when no command arrived on any of
// its queues for KATO plus twice Config.Delay (a command sent just in time
// still needs one link delay to arrive).
//
// Namespaces keep their data in sparse memory: only written 4 KiB chunks
// exist, so a 1 TiB namespace costs what was written to it, and unwritten
// blocks read as zeros. Identifiers (NGUID, EUI-64, UUID) not given are
// derived from the subsystem NQN and the NSID, so they are stable.
//
// Attaching or detaching a namespace adds its NSID to every controller's
// Changed Namespace List log page (04h) and, on controllers that enabled
// namespace attribute notices (Set Features 0Bh bit 8), completes an
// outstanding Asynchronous Event Request with "namespace attribute changed";
// further events wait until the host has read the log page.
//
// # Transport
//
// Each connection negotiates header and data digests as the host asks
// (ICReq), accepts up to 8 KiB of in-capsule data per command (IOCCSZ),
// asks for larger writes with one R2T and takes H2CData PDUs of up to
// 128 KiB (MAXH2CDATA), and returns read data in one C2HData PDU. A command
// moves at most 1 MiB (MDTS). Commands run concurrently and complete in
// any order; a host may have up to twice the queue depth outstanding, as
// with Linux's nvmet-tcp. Protocol errors end the connection with a
// C2HTermReq. No command but Connect runs before a Connect succeeded
// (Command Sequence Error).
//
// Config.Limits bounds what hosts may make the target hold: connections
// in all and per source address, the time to connect and to send a
// write's data, and the write buffers held between R2T and execution, per
// connection and in all. docs/robustness.md lists every limit with its
// default and flag.
//
// # Faults
//
// Faults (set in Config or at run time with SetFaults) let tests and the
// CLI script failures: a status for every command naming a namespace, extra
// latency for chosen namespaces, namespaces whose commands are never
// answered, connections dropped after a number of commands, a malformed
// PDU, and Identify data rewritten by a function (a controller that
// reports nonsense).
package target

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
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

// Errors returned by Attach, Detach, WriteAt, ReadAt and New's checks.
var (
	ErrNamespaceExists  = errors.New("target: namespace already attached")
	ErrNoNamespace      = errors.New("target: no such namespace")
	ErrInvalidNamespace = errors.New("target: invalid namespace")
	ErrInvalidConfig    = errors.New("target: invalid configuration")
	ErrClosed           = errors.New("target: closed")
)

// Namespace describes a namespace of the subsystem.
type Namespace struct {
	NSID      uint32
	Size      uint64 // bytes, a multiple of BlockSize; 0 means DefaultNSSize
	BlockSize uint32 // 512 or 4096; 0 means 512
	NGUID     [16]byte
	EUI64     [8]byte
	UUID      [16]byte // all three derived from the NQN and NSID when zero
	// Omit lists identifiers the namespace does not have: they are left
	// out of the descriptor list (CNS 03h) and zero in Identify Namespace.
	// Zero lists identifiers reported as all-zero values: a descriptor of
	// zeros, and zero in Identify Namespace (hosts take both as absent).
	Omit, Zero IDs
}

// IDs is a set of namespace identifiers.
type IDs uint8

// Namespace identifiers, for Namespace.Omit and Namespace.Zero.
const (
	IDNGUID IDs = 1 << iota
	IDEUI64
	IDUUID
)

// Faults are failures the target injects. The zero value injects none.
type Faults struct {
	// Status is returned by every command that names the namespace:
	// Identify CNS 00h, 03h, 05h, 08h and I/O commands.
	Status map[uint32]nvme.Status
	// Delay is added to the service time of commands naming the namespace.
	Delay map[uint32]time.Duration
	// Hang lists namespaces whose commands are never answered (until the
	// connection ends).
	Hang map[uint32]bool
	// DropAfter, when positive, closes a connection when it receives its
	// command number DropAfter+1: exactly DropAfter commands are served.
	DropAfter int
	// MalformedAfter, when positive, makes a connection send a PDU with an
	// invalid header in place of its response number MalformedAfter+1.
	MalformedAfter int
	// NoNSIDList makes Identify CNS 02h (the active NSID list) fail with
	// Invalid Field in Command and DNR, as on controllers that lack it, so
	// hosts must probe NSIDs one by one.
	NoNSIDList bool
	// Identify, if not nil, rewrites the answer to every Identify command,
	// so that tests can play a controller that returns nonsense. It gets
	// the command and what the target would answer: 4096 bytes of data,
	// or nil and a failure status. It returns the data and status to send
	// instead; data shorter than the command asks for is padded with
	// zeros. The returned slice belongs to the target afterwards: it may
	// be the one passed in, changed in place, or a new one, never one the
	// function keeps. It is called from the connection's goroutines and
	// must be safe for concurrent use.
	Identify func(cmd *nvme.Command, data []byte, st nvme.Status) ([]byte, nvme.Status)
}

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

// Target is an emulated NVM subsystem and its discovery subsystem. Create
// it with New; its methods are safe for concurrent use.
type Target struct {
	cfg    Config
	cfgErr error
	log    *slog.Logger
	start  time.Time

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

// New returns a Target for cfg. Invalid configuration is reported by Serve
// and Start.
func New(cfg Config) *Target {
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
	t.cfgErr = t.checkConfig()
	if t.cfgErr == nil {
		for id := 1; id <= cfg.Namespaces; id++ {
			if err := t.Attach(Namespace{NSID: uint32(id)}); err != nil {
				t.cfgErr = err
				break
			}
		}
	}
	return t
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

// Err returns the configuration error New found, or nil. Serve and Start
// return it too.
func (t *Target) Err() error { return t.cfgErr }

// NQN returns the subsystem NQN.
func (t *Target) NQN() string { return t.cfg.NQN }

// SetFaults replaces the injected faults; commands received afterwards see
// the new ones.
func (t *Target) SetFaults(f Faults) { t.faults.Store(&f) }

// namespace is an attached namespace with its storage.
type namespace struct {
	Namespace
	blocks uint64
	lbads  uint8
	data   store
}

func (ns *namespace) info(shared bool) nsInfo {
	return nsInfo{
		active: true, blocks: ns.blocks, lbads: ns.lbads,
		nguid: ns.NGUID, eui64: ns.EUI64, uuid: ns.UUID, zero: ns.Zero, shared: shared,
	}
}

// Attach adds a namespace to the subsystem and raises the namespace
// attribute changed event on every controller. Zero Size, BlockSize and
// identifiers take their defaults, but for those in Omit or Zero.
func (t *Target) Attach(ns Namespace) error {
	if ns.BlockSize == 0 {
		ns.BlockSize = t.cfg.BlockSize
	}
	if ns.Size == 0 {
		ns.Size = t.cfg.NamespaceSize
	}
	switch {
	case ns.NSID == 0 || ns.NSID > t.cfg.MaxNSID:
		return fmt.Errorf("%w: NSID %d not in 1..%d", ErrInvalidNamespace, ns.NSID, t.cfg.MaxNSID)
	case ns.BlockSize != 512 && ns.BlockSize != 4096:
		return fmt.Errorf("%w: block size %d, want 512 or 4096", ErrInvalidNamespace, ns.BlockSize)
	case ns.Size%uint64(ns.BlockSize) != 0:
		return fmt.Errorf("%w: size %d not a multiple of the block size %d", ErrInvalidNamespace, ns.Size, ns.BlockSize)
	}
	nguid, eui, uuid := deriveIDs(t.cfg.NQN, ns.NSID)
	if ns.NGUID == ([16]byte{}) {
		ns.NGUID = nguid
	}
	if ns.EUI64 == ([8]byte{}) {
		ns.EUI64 = eui
	}
	if ns.UUID == ([16]byte{}) {
		ns.UUID = uuid
	}
	if off := ns.Omit | ns.Zero; off != 0 {
		if off&IDNGUID != 0 {
			ns.NGUID = [16]byte{}
		}
		if off&IDEUI64 != 0 {
			ns.EUI64 = [8]byte{}
		}
		if off&IDUUID != 0 {
			ns.UUID = [16]byte{}
		}
	}
	n := &namespace{Namespace: ns, blocks: ns.Size / uint64(ns.BlockSize)}
	for 1<<n.lbads < ns.BlockSize {
		n.lbads++
	}
	t.mu.Lock()
	if _, ok := t.ns[ns.NSID]; ok {
		t.mu.Unlock()
		return fmt.Errorf("%w: NSID %d", ErrNamespaceExists, ns.NSID)
	}
	t.ns[ns.NSID] = n
	i, _ := slices.BinarySearch(t.nsids, ns.NSID)
	t.nsids = slices.Insert(t.nsids, i, ns.NSID)
	ctrls := t.controllersLocked()
	t.mu.Unlock()
	for _, c := range ctrls {
		c.namespaceChanged(ns.NSID)
	}
	return nil
}

// Detach removes a namespace and its data, and raises the namespace
// attribute changed event on every controller.
func (t *Target) Detach(nsid uint32) error {
	t.mu.Lock()
	if _, ok := t.ns[nsid]; !ok {
		t.mu.Unlock()
		return fmt.Errorf("%w: NSID %d", ErrNoNamespace, nsid)
	}
	delete(t.ns, nsid)
	i, _ := slices.BinarySearch(t.nsids, nsid)
	t.nsids = slices.Delete(t.nsids, i, i+1)
	ctrls := t.controllersLocked()
	t.mu.Unlock()
	for _, c := range ctrls {
		c.namespaceChanged(nsid)
	}
	return nil
}

// Namespaces returns the attached namespaces in NSID order.
func (t *Target) Namespaces() []Namespace {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Namespace, 0, len(t.nsids))
	for _, id := range t.nsids {
		out = append(out, t.ns[id].Namespace)
	}
	return out
}

// WriteAt writes p into namespace nsid at byte offset off, as a Write
// command would.
func (t *Target) WriteAt(nsid uint32, p []byte, off int64) error {
	ns, err := t.extent(nsid, "write", len(p), off)
	if err == nil {
		ns.data.writeAt(p, uint64(off))
	}
	return err
}

// ReadAt reads len(p) bytes of namespace nsid at byte offset off.
func (t *Target) ReadAt(nsid uint32, p []byte, off int64) error {
	ns, err := t.extent(nsid, "read", len(p), off)
	if err == nil {
		ns.data.readAt(p, uint64(off))
	}
	return err
}

// extent returns namespace nsid if n bytes at off lie within it.
func (t *Target) extent(nsid uint32, op string, n int, off int64) (*namespace, error) {
	ns := t.namespace(nsid)
	if ns == nil {
		return nil, fmt.Errorf("%w: NSID %d", ErrNoNamespace, nsid)
	}
	if off < 0 || uint64(off)+uint64(n) > ns.Size {
		return nil, fmt.Errorf("%w: %s of %d bytes at %d beyond %d", ErrInvalidNamespace, op, n, off, ns.Size)
	}
	return ns, nil
}

func (t *Target) namespace(nsid uint32) *namespace {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.ns[nsid]
}

// activeAfter returns up to n active NSIDs greater than after.
func (t *Target) activeAfter(after uint32, n int) []uint32 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	i, found := slices.BinarySearch(t.nsids, after)
	if found {
		i++
	}
	return slices.Clone(t.nsids[i:min(len(t.nsids), i+n)])
}

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

// Serve accepts connections on ln and serves each until ctx is done or
// Close is called; then it closes ln and every connection it accepted and
// returns nil once they have ended. It returns an error if the
// configuration is invalid or ln fails.
func (t *Target) Serve(ctx context.Context, ln net.Listener) error {
	if t.cfgErr != nil {
		return t.cfgErr
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnClose := context.AfterFunc(t.ctx, cancel)
	defer stopOnClose()
	stopListener := context.AfterFunc(ctx, func() { ln.Close() })
	defer stopListener()
	var wg sync.WaitGroup
	defer wg.Wait()
	backoff := 5 * time.Millisecond
	for {
		nc, err := ln.Accept()
		if err != nil && ctx.Err() == nil && acceptRetry(err) {
			// Out of file descriptors or memory, as under a flood of
			// connections: wait for some to end, as net/http does.
			t.warn.log(t, "accept failed, retrying", "err", err, "after", backoff)
			if sleep(ctx, backoff) == nil {
				backoff = min(2*backoff, time.Second)
				continue
			}
		}
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("target: accept: %w", err)
		}
		backoff = 5 * time.Millisecond
		release, ok := t.admit(nc)
		if !ok {
			continue
		}
		wg.Go(func() {
			defer release()
			t.serveConn(ctx, nc, ln.Addr())
		})
	}
}

// acceptRetry reports whether an Accept error is one that passes.
func acceptRetry(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ECONNABORTED)
}

// Start listens on addr ("" means 127.0.0.1:0, a free loopback port) and
// serves in the background until ctx is done or Close is called. It
// returns the address listened on.
func (t *Target) Start(ctx context.Context, addr string) (string, error) {
	if t.cfgErr != nil {
		return "", t.cfgErr
	}
	if t.ctx.Err() != nil {
		return "", ErrClosed
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("target: %w", err)
	}
	t.wg.Go(func() {
		if err := t.Serve(ctx, ln); err != nil {
			t.log.Error("serve", "addr", ln.Addr().String(), "err", err)
		}
	})
	return ln.Addr().String(), nil
}

// Close stops every Serve and Start loop, closes all connections and waits
// for the loops started by Start to return.
func (t *Target) Close() error {
	t.cancel()
	t.wg.Wait()
	return nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
