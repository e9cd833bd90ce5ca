package target

import (
	"cmp"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/complchain/complchain/nvme/tcp"
)

// Limits bound what hosts, well-behaved or not, may make a Target hold.
// Each limit that cuts a host off logs a warning (at most one a second per
// kind; the count of those not logged comes with the next). Zero fields
// take the defaults below; docs/robustness.md lists them with the CLI's
// flags and what Linux's nvmet and SPDK do.
type Limits struct {
	// MaxConnections is the most connections open at once, from all hosts;
	// one more is closed at once. Default 1024.
	MaxConnections int
	// MaxConnectionsPerHost is the most connections open at once from one
	// source IP address. Default 128: a host's admin queue, discovery queue
	// and 16 I/O queues (Config.IOQueues) for several controllers.
	MaxConnectionsPerHost int
	// ConnectTimeout bounds the time from accepting a connection until a
	// Connect command on it succeeded, ICReq included. Default 10 s
	// (plus the emulated round trip).
	ConnectTimeout time.Duration
	// DataTimeout bounds the time from an R2T until the last H2CData PDU
	// of its write. Default 10 s (plus the emulated round trip).
	DataTimeout time.Duration
	// ConnWriteBudget bounds the write data one connection holds, in
	// bytes, from R2T until the write has executed; a write that does not
	// fit waits with its R2T unsent. Default 4 MiB (at least one 1 MiB
	// write, MDTS).
	ConnWriteBudget int
	// WriteBudget bounds the same for all connections together. Default
	// 32 MiB.
	WriteBudget int64
	// ReadBudget bounds the read data (controller to host) of all
	// connections together, in bytes, from the start of a command until
	// its data is written to the socket; a read waits for room before it
	// executes, and its connection is not read meanwhile. Default 8 MiB.
	ReadBudget int64
}

// Defaults of Limits.
const (
	DefaultMaxConnections        = 1024
	DefaultMaxConnectionsPerHost = 128
	DefaultConnectTimeout        = tcp.DefaultConnectTimeout
	DefaultDataTimeout           = tcp.DefaultDataTimeout
	DefaultConnWriteBudget       = tcp.DefaultWriteBudget
	DefaultWriteBudget           = 32 << 20
	DefaultReadBudget            = 8 << 20
)

func (l *Limits) setDefaults() {
	l.MaxConnections = cmp.Or(l.MaxConnections, DefaultMaxConnections)
	l.MaxConnectionsPerHost = cmp.Or(l.MaxConnectionsPerHost, DefaultMaxConnectionsPerHost)
	l.ConnectTimeout = cmp.Or(l.ConnectTimeout, DefaultConnectTimeout)
	l.DataTimeout = cmp.Or(l.DataTimeout, DefaultDataTimeout)
	l.ConnWriteBudget = cmp.Or(l.ConnWriteBudget, DefaultConnWriteBudget)
	l.WriteBudget = cmp.Or(l.WriteBudget, DefaultWriteBudget)
	l.ReadBudget = cmp.Or(l.ReadBudget, DefaultReadBudget)
}

func (l *Limits) check() error {
	switch {
	case l.MaxConnections < 1 || l.MaxConnectionsPerHost < 1:
		return fmt.Errorf("%w: connection limits %d and %d per host", ErrInvalidConfig, l.MaxConnections, l.MaxConnectionsPerHost)
	case l.ConnectTimeout < 0 || l.DataTimeout < 0:
		return fmt.Errorf("%w: negative time-out", ErrInvalidConfig)
	case l.ReadBudget < maxTransfer:
		return fmt.Errorf("%w: read budget %d, want at least %d (MDTS)", ErrInvalidConfig, l.ReadBudget, maxTransfer)
	case l.ConnWriteBudget < maxTransfer || l.WriteBudget < int64(l.ConnWriteBudget):
		return fmt.Errorf("%w: write budgets %d per connection, %d in all: want at least %d (MDTS) and per connection ≤ in all",
			ErrInvalidConfig, l.ConnWriteBudget, l.WriteBudget, maxTransfer)
	}
	return nil
}

// connCounter counts open connections, in all and by source address.
type connCounter struct {
	mu     sync.Mutex
	total  int
	byHost map[string]int
}

// admit counts nc in if the limits allow it, and returns the function that
// counts it out; otherwise it closes nc, logs why and returns false.
func (t *Target) admit(nc net.Conn) (release func(), ok bool) {
	host := remoteHost(nc.RemoteAddr())
	l := &t.cfg.Limits
	c := &t.conns
	c.mu.Lock()
	var reason string
	switch {
	case c.total >= l.MaxConnections:
		reason = fmt.Sprintf("%d connections open, limit %d", c.total, l.MaxConnections)
	case c.byHost[host] >= l.MaxConnectionsPerHost:
		reason = fmt.Sprintf("%d connections open from %s, limit %d per host", c.byHost[host], host, l.MaxConnectionsPerHost)
	default:
		if c.byHost == nil {
			c.byHost = make(map[string]int)
		}
		c.total++
		c.byHost[host]++
	}
	c.mu.Unlock()
	if reason != "" {
		nc.Close()
		t.warn.log(t, "connection refused", "remote", nc.RemoteAddr().String(), "reason", reason)
		return nil, false
	}
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.total--
		if c.byHost[host]--; c.byHost[host] == 0 {
			delete(c.byHost, host)
		}
	}, true
}

// Connections returns the number of connections open now.
func (t *Target) Connections() int {
	t.conns.mu.Lock()
	defer t.conns.mu.Unlock()
	return t.conns.total
}

// remoteHost is the IP address of a connection's peer.
func remoteHost(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// warnLimiter logs at most one warning a second for each message, so that
// a flood of hostile connections does not flood the log.
type warnLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
	skip map[string]int
}

func (w *warnLimiter) log(t *Target, msg string, args ...any) {
	now := time.Now()
	w.mu.Lock()
	if w.last == nil {
		w.last, w.skip = make(map[string]time.Time), make(map[string]int)
	}
	if now.Sub(w.last[msg]) < time.Second {
		w.skip[msg]++
		w.mu.Unlock()
		return
	}
	w.last[msg] = now
	skipped := w.skip[msg]
	w.skip[msg] = 0
	w.mu.Unlock()
	if skipped > 0 {
		args = append(args, "not_logged", skipped)
	}
	t.log.Warn(msg, args...)
}
