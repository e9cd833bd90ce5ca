package target

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// Serve serves ln as a port with the next free PORTID: ServePort with a
// zero PortConfig.
func (t *Target) Serve(ctx context.Context, ln net.Listener) error {
	return t.ServePort(ctx, ln, PortConfig{})
}

// ServePort serves ln as a port configured by pc: the discovery log lists
// every subsystem at ln's address from now until ServePort returns. It
// accepts connections on ln and serves each until ctx is done or Close is
// called; then it closes ln and every connection it accepted and returns
// nil once they have ended. It returns an error wrapping ErrInvalidConfig
// if pc is invalid or its PORTID in use, ErrClosed after Close, or the
// error of ln.
func (t *Target) ServePort(ctx context.Context, ln net.Listener, pc PortConfig) error {
	if t.ctx.Err() != nil {
		ln.Close()
		return ErrClosed
	}
	p, err := t.addPort(ln, pc)
	if err != nil {
		ln.Close()
		return err
	}
	defer t.removePort(p)
	return t.serve(ctx, ln, p)
}

// serve accepts and serves connections on ln, the listener of port p.
func (t *Target) serve(ctx context.Context, ln net.Listener, p *Port) error {
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
			t.serveConn(ctx, nc, p)
		})
	}
}

// acceptRetry reports whether an Accept error is one that passes.
func acceptRetry(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ECONNABORTED)
}

// Start listens on addr ("" means 127.0.0.1:0, a free loopback port) and
// serves it in the background as a port with the next free PORTID, until
// ctx is done or Close is called. It returns the address listened on; the
// port is in the discovery log when it returns.
func (t *Target) Start(ctx context.Context, addr string) (string, error) {
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
	// The port is listed before Start returns.
	p, err := t.addPort(ln, PortConfig{})
	if err != nil {
		ln.Close()
		return "", err
	}
	t.wg.Go(func() {
		defer t.removePort(p)
		if err := t.serve(ctx, ln, p); err != nil {
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
