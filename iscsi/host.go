package iscsi

import (
	"context"
	"errors"

	"github.com/complchain/complchain/scsi"
)

// A Host is a SCSI host whose commands go to one iSCSI target, as a
// Linux iSCSI session is a SCSI host: it implements scsi.Transport, and
// logs in on its first command (so that a scsi.Scanner logs in to every
// target at once, each login bounded by the scan's time-out) and again
// after its session ends. Its methods are safe for concurrent use.
type Host struct {
	Portal string // "host:port"
	Config Config // Config.TargetName names the target

	lock chan struct{} // one token: held while logging in or swapping s
	s    *Session
}

// NewHost returns a Host for the target cfg.TargetName at portal.
func NewHost(portal string, cfg Config) *Host {
	return &Host{Portal: portal, Config: cfg, lock: make(chan struct{}, 1)}
}

// String returns the target name.
func (h *Host) String() string { return h.Config.TargetName }

// session returns the logged-in session, logging in first if there is
// none or the last one ended.
func (h *Host) session(ctx context.Context) (*Session, error) {
	select {
	case h.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-h.lock }()
	if h.s != nil && h.s.Err() == nil {
		return h.s, nil
	}
	if h.s != nil {
		h.s.Close()
		h.s = nil
	}
	s, err := Dial(ctx, h.Portal, h.Config)
	if err != nil {
		return nil, err
	}
	h.s = s
	return s, nil
}

// Command implements scsi.Transport: it runs cdb on LUN a.LUN of the
// target, logging in first if needed.
func (h *Host) Command(ctx context.Context, a scsi.Addr, cdb []byte) (scsi.Response, error) {
	s, err := h.session(ctx)
	if err != nil {
		return scsi.Response{}, err
	}
	return s.Command(ctx, a, cdb)
}

// Close logs out of the session, if there is one, within ctx.
func (h *Host) Close(ctx context.Context) error {
	select {
	case h.lock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.lock }()
	s := h.s
	h.s = nil
	if s == nil {
		return nil
	}
	if err := s.Logout(ctx); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	return nil
}
