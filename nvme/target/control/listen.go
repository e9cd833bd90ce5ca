package control

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// ErrInUse is returned by Listen when its path exists and is not a stale
// socket: a file of another kind, or a socket something answers on.
var ErrInUse = errors.New("control: path in use")

// Listen creates a unix socket at path with permissions 0600 and listens
// on it. An existing path is refused with ErrInUse unless it is a stale
// socket (nothing listens on it), which is replaced. The socket is
// created with its permissions in a private directory beside path and
// then renamed into place, so that no other user can connect meanwhile.
// Closing the listener removes path if it is still this socket, not if
// it was removed or replaced meanwhile (by another target's Listen).
func Listen(path string) (net.Listener, error) {
	if err := checkStale(path); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".control-")
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	fi, err := os.Lstat(tmp)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	return &listener{UnixListener: ln, path: path, fi: fi}, nil
}

// checkStale returns nil if path does not exist or was a stale socket,
// now removed.
func checkStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: %s is a %v, not a socket", ErrInUse, path, fi.Mode().Type())
	}
	c, err := net.Dial("unix", path)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: something listens on %s", ErrInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: %s: %w", ErrInUse, path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("control: stale socket: %w", err)
	}
	return nil
}

// listener is the socket Listen created: it reports path as its address
// and removes it when closed, if path is still the socket fi describes.
type listener struct {
	*net.UnixListener
	path string
	fi   fs.FileInfo
}

func (l *listener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *listener) Close() error {
	err := l.UnixListener.Close()
	if fi, lerr := os.Lstat(l.path); lerr != nil || !os.SameFile(fi, l.fi) {
		return err // removed or replaced: not ours any more
	}
	if rerr := os.Remove(l.path); err == nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = rerr
	}
	return err
}
