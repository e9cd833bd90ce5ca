package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// Client calls the API of a target's control socket. Its methods are
// safe for concurrent use. A request the endpoint refuses returns an
// *Error; others return the transport's error.
type Client struct {
	hc   *http.Client
	path string
}

// ErrNoAnswer is wrapped by the error of a Client's call when the
// endpoint closed the connection without answering (EOF, or a reset
// or broken pipe while sending): Serve does so with a connection beyond
// MaxConns open at once, and while it stops. The call may be retried
// once another client's connection has ended.
var ErrNoAnswer = errors.New("connection closed without an answer: the target serves at most " +
	strconv.Itoa(MaxConns) + " control connections at once, or is stopping")

// NewClient returns a Client of the socket at path; it connects on the
// first call. Close releases its idle connections.
func NewClient(path string) *Client {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		},
		MaxResponseHeaderBytes: 16 << 10,
	}
	return &Client{hc: &http.Client{Transport: tr}, path: path}
}

// SetTimeout bounds each call of c, from its connection to the end of
// the answer: a call that takes longer fails with an error whose
// Timeout method reports true (a net.Error), so that an endpoint that
// accepts and never answers (a stopped process) does not hang its
// caller. 0, the default, means no bound but the call's context.
func (c *Client) SetTimeout(d time.Duration) { c.hc.Timeout = d }

// Close closes the Client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Subsystems returns the target's NVM subsystems.
func (c *Client) Subsystems(ctx context.Context) ([]Subsystem, error) {
	var out []Subsystem
	return out, c.do(ctx, http.MethodGet, "/v1/subsystems", nil, &out)
}

// Subsystem returns the subsystem named nqn.
func (c *Client) Subsystem(ctx context.Context, nqn string) (Subsystem, error) {
	var out Subsystem
	return out, c.do(ctx, http.MethodGet, subsystemPath(nqn), nil, &out)
}

// Ports returns the ports served, in PORTID order.
func (c *Client) Ports(ctx context.Context) ([]Port, error) {
	var out []Port
	return out, c.do(ctx, http.MethodGet, "/v1/ports", nil, &out)
}

// Attach attaches a namespace to subsystem nqn and returns it.
func (c *Client) Attach(ctx context.Context, nqn string, req AttachRequest) (Namespace, error) {
	var out Namespace
	return out, c.do(ctx, http.MethodPost, subsystemPath(nqn)+"/namespaces", req, &out)
}

// Resize sets the size of namespace nsid of subsystem nqn, in bytes, and
// returns the namespace.
func (c *Client) Resize(ctx context.Context, nqn string, nsid uint32, size uint64) (Namespace, error) {
	var out Namespace
	return out, c.do(ctx, http.MethodPatch, namespacePath(nqn, nsid), ResizeRequest{Size: size}, &out)
}

// Detach detaches namespace nsid of subsystem nqn.
func (c *Client) Detach(ctx context.Context, nqn string, nsid uint32) error {
	return c.do(ctx, http.MethodDelete, namespacePath(nqn, nsid), nil, nil)
}

// AllowHost allows host to connect to subsystem nqn and returns the
// subsystem.
func (c *Client) AllowHost(ctx context.Context, nqn, host string) (Subsystem, error) {
	var out Subsystem
	return out, c.do(ctx, http.MethodPost, hostPath(nqn, host), nil, &out)
}

// DisallowHost removes host from the allowed hosts of subsystem nqn and
// returns the subsystem.
func (c *Client) DisallowHost(ctx context.Context, nqn, host string) (Subsystem, error) {
	var out Subsystem
	return out, c.do(ctx, http.MethodDelete, hostPath(nqn, host), nil, &out)
}

func subsystemPath(nqn string) string { return "/v1/subsystems/" + url.PathEscape(nqn) }

func namespacePath(nqn string, nsid uint32) string {
	return subsystemPath(nqn) + "/namespaces/" + strconv.FormatUint(uint64(nsid), 10)
}

func hostPath(nqn, host string) string { return subsystemPath(nqn) + "/hosts/" + url.PathEscape(host) }

// do sends a request with body in JSON, if not nil, and decodes the
// answer into out, if not nil; it reads at most MaxResponseBytes.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://control"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if ne := net.Error(nil); err != nil && errors.As(err, &ne) && ne.Timeout() && c.hc.Timeout > 0 {
		return fmt.Errorf("control: %s: %s %s: no answer within %v: %w", c.path, method, path, c.hc.Timeout, err)
	}
	if err != nil && closedUnanswered(err) {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // the method and path are said once
		}
		return fmt.Errorf("control: %s: %s %s: %w (%w)", c.path, method, path, ErrNoAnswer, err)
	}
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	switch {
	case err != nil:
		return fmt.Errorf("control: %s %s: %w", method, path, err)
	case len(data) > MaxResponseBytes:
		return fmt.Errorf("control: %s %s: answer longer than %d bytes", method, path, MaxResponseBytes)
	case resp.StatusCode >= 300:
		e := &Error{}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
		e.Status = resp.StatusCode
		return e
	case out == nil:
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("control: %s %s: %w", method, path, err)
	}
	return nil
}

// closedUnanswered reports whether err says the peer closed the
// connection: EOF before or within an answer, a reset or broken pipe
// while sending, or net/http's error for a connection closed before the
// request was sent (unexported: matched by its text).
func closedUnanswered(err error) bool {
	if ue := (*url.Error)(nil); errors.As(err, &ue) && ue.Err.Error() == "http: server closed idle connection" {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
