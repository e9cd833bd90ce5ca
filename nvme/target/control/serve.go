package control

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/complchain/complchain/nvme/target"
)

// ShutdownTimeout bounds how long Serve waits, once its context is done,
// for requests under way to end before it closes their connections.
const ShutdownTimeout = 5 * time.Second

// Serve serves the API acting on t on ln until ctx is done; then it
// closes ln, lets the requests under way end (ShutdownTimeout at most),
// closes every connection and returns nil. Otherwise it returns ln's
// error. A request must send its headers (at most 16 KiB) within 10 s
// and its body within 30 s, and take its answer within 30 s of its
// headers; an idle connection is closed after 30 s. At most MaxConns
// connections are open at once: Serve closes any other as soon as it
// has accepted it.
func Serve(ctx context.Context, ln net.Listener, t *target.Target) error {
	ln = &limitListener{Listener: ln, max: MaxConns}
	srv := &http.Server{
		Handler:           NewHandler(t),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second, // a client that does not read its answer
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	down := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(down)
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		srv.Shutdown(sctx)
		srv.Close()
	})
	err := srv.Serve(ln)
	if stop() { // ln failed: ctx is not done
		srv.Close()
		return err
	}
	<-down
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
