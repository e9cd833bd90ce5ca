package control

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestListenCloseKeepsAnotherSocket: a socket path removed while
// serving and taken by another listener stays with it when the first
// listener closes, and the first no longer answers there.
func TestListenCloseKeepsAnotherSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl")
	first, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	second, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen after the path was removed: %v", err)
	}
	defer second.Close()
	if err := first.Close(); err != nil {
		t.Fatalf("Close of the listener whose path was taken: %v", err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("closing the first listener removed the second's socket: %v", err)
	}
	accepted := make(chan error, 1)
	go func() {
		c, err := second.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial the second listener: %v", err)
	}
	c.Close()
	if err := <-accepted; err != nil {
		t.Fatalf("the second listener did not accept: %v", err)
	}
}
