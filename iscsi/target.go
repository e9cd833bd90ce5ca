package iscsi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/complchain/complchain/internal/netem"
	"github.com/complchain/complchain/scsi"
)

// TargetConfig configures a Target.
type TargetConfig struct {
	// Hosts are the emulated SCSI hosts served: Hosts[N] is the target
	// named NamePrefix+N, its LUNs those of channel 0, target 0 of the
	// host, with the host's latency and faults. A host with Hang set
	// never answers a login.
	Hosts []*scsi.Host
	// NamePrefix is prefixed to each host's number to name its target;
	// empty means DefaultNamePrefix.
	NamePrefix string
	// Alias is the TargetAlias declared at login; empty means none.
	Alias string
	// CHAP, if not nil, is what every initiator must present (AuthMethod
	// CHAP); nil means AuthMethod None.
	CHAP *CHAP
	// Params are the target's preferences; the zero value means
	// PreferredParams.
	Params Params
	// QueueDepth is the CmdSN window of each session: commands in
	// flight; 0 means 128.
	QueueDepth int
	// MaxSessions bounds the connections served at once (logging in or
	// logged in); more are closed at once. 0 means 4096.
	MaxSessions int
	// LoginTimeout bounds a login, from accept to full feature phase;
	// 0 means 15 s.
	LoginTimeout time.Duration
	// MaxWriteLength bounds a write command's Expected Data Transfer
	// Length: a longer one ends in CHECK CONDITION without its data
	// being asked for. 0 means 1 MiB.
	MaxWriteLength int
	// Delay is a one-way link delay added to every accepted connection
	// in each direction (round trip = 2 × Delay), as internal/netem
	// emulates it.
	Delay time.Duration
	// NOPInInterval, if positive, makes the target ping each session
	// with a NOP-In this often (as LIO's nopin_timeout), and drop a
	// session that leaves a ping unanswered for NOPInTimeout (as LIO's
	// nopin_response_timeout; 0 means 2 × NOPInInterval). No new ping
	// is sent while one is unanswered.
	NOPInInterval, NOPInTimeout time.Duration
}

// DefaultNamePrefix prefixes the host number in target names.
const DefaultNamePrefix = "iqn.2026-01.io.example:host"

// A Target serves emulated SCSI hosts over iSCSI on a TCP listener:
// discovery sessions (SendTargets) and one normal session per
// connection. Its methods are safe for concurrent use.
type Target struct {
	cfg   TargetConfig
	slots chan struct{}

	tsih atomic.Uint32

	mu    sync.Mutex
	ln    []net.Listener
	conns map[net.Conn]struct{}
	done  chan struct{} // closed by Close
	wg    sync.WaitGroup
}

// NewTarget returns a Target serving cfg; Start or Serve puts it on the
// network.
func NewTarget(cfg TargetConfig) *Target {
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = DefaultNamePrefix
	}
	if cfg.Params == (Params{}) {
		cfg.Params = PreferredParams()
	}
	if cfg.QueueDepth <= 0 {
		cfg.QueueDepth = defaultQueueDepth
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 4096
	}
	if cfg.LoginTimeout <= 0 {
		cfg.LoginTimeout = 15 * time.Second
	}
	if cfg.NOPInTimeout <= 0 {
		cfg.NOPInTimeout = 2 * cfg.NOPInInterval
	}
	if cfg.MaxWriteLength <= 0 {
		cfg.MaxWriteLength = 1 << 20
	}
	return &Target{cfg: cfg, slots: make(chan struct{}, cfg.MaxSessions), conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
}

// nextTSIH returns a new session's TSIH: never 0 (RFC 7143 §11.12.6).
func (t *Target) nextTSIH() uint16 {
	for {
		if n := uint16(t.tsih.Add(1)); n != 0 {
			return n
		}
	}
}

// Name returns the target name of host n.
func (t *Target) Name(n int) string { return t.cfg.NamePrefix + strconv.Itoa(n) }

// host returns the host of a target name, or nil.
func (t *Target) host(name string) *scsi.Host {
	rest, ok := strings.CutPrefix(name, t.cfg.NamePrefix)
	if !ok || rest == "" || len(rest) > 1 && rest[0] == '0' {
		return nil
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || n >= len(t.cfg.Hosts) {
		return nil
	}
	return t.cfg.Hosts[n]
}

// Start listens on addr ("127.0.0.1:0" if empty) and serves in the
// background until Close; it returns the address listened on.
func (t *Target) Start(ctx context.Context, addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("iscsi: target: %w", err)
	}
	t.wg.Go(func() { t.Serve(ln) })
	return ln.Addr().String(), nil
}

// ErrTargetClosed is returned by Serve after Close.
var ErrTargetClosed = errors.New("iscsi: target closed")

// Serve accepts connections on ln and serves each until Close, which
// closes ln. It returns ErrTargetClosed after Close, or ln's error.
func (t *Target) Serve(ln net.Listener) error {
	t.mu.Lock()
	select {
	case <-t.done:
		t.mu.Unlock()
		ln.Close()
		return ErrTargetClosed
	default:
	}
	t.ln = append(t.ln, ln)
	t.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-t.done:
				return ErrTargetClosed
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		select {
		case t.slots <- struct{}{}:
		default:
			nc.Close() // MaxSessions reached
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true) // before netem hides it: each PDU is flushed whole
		}
		if t.cfg.Delay > 0 {
			nc = netem.Wrap(nc, netem.Link{Delay: t.cfg.Delay})
		}
		if !t.track(nc, true) {
			nc.Close()
			<-t.slots
			return ErrTargetClosed
		}
		t.wg.Go(func() {
			defer func() { <-t.slots }()
			defer t.track(nc, false)
			defer nc.Close()
			t.serveConn(nc)
		})
	}
}

func (t *Target) track(nc net.Conn, add bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !add {
		delete(t.conns, nc)
		return true
	}
	select {
	case <-t.done:
		return false
	default:
	}
	t.conns[nc] = struct{}{}
	return true
}

// Close stops the listeners, drops every connection and waits for the
// target's goroutines to return.
func (t *Target) Close() error {
	t.mu.Lock()
	select {
	case <-t.done:
	default:
		close(t.done)
	}
	for _, ln := range t.ln {
		ln.Close()
	}
	for nc := range t.conns {
		nc.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}
