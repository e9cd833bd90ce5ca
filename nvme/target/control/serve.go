package control

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/complchain/complchain/nvme/target"
)

// Serve serves the API acting on t on ln until ctx is done, then closes
// ln and every connection and returns nil; otherwise it returns ln's
// error. Requests must send their headers within 10 s.
func Serve(ctx context.Context, ln net.Listener, t *target.Target) error {
	srv := &http.Server{
		Handler:           NewHandler(t),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
