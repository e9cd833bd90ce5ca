package tcp_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// A Wait that returns because the queue stopped gives the caller its
// data buffer back, and its done function is not called: the reader,
// still handling PDUs it had read before the connection closed, writes
// no more into the buffer. Here the reader is held in the done function
// of one command while the C2HData of another lies buffered behind it.
func TestWaitOnStoppedQueueOwnsBuffer(t *testing.T) {
	page := bytes.Repeat([]byte{0xAA}, nvme.IdentifySize)
	addr, _ := startScripted(t, func(s *scripted) error {
		a, err := s.capsule()
		if err != nil {
			return err
		}
		b, err := s.capsule()
		if err != nil {
			return err
		}
		// One write: both PDUs reach the host's reader together.
		return s.send(s.resp(a.CID, 0), s.data(b.CID, 0, page, tcp.FlagDataLast|tcp.FlagDataSuccess))
	})
	q := hostileQueue(t, addr, tcp.HostConfig{})
	ctx := context.Background()
	inDone, release := make(chan struct{}), make(chan struct{})
	ka := nvme.Command{Opcode: nvme.OpKeepAlive}
	a := q.StartFunc(ctx, &ka, nil, func() { close(inDone); <-release })
	buf := make([]byte, nvme.IdentifySize)
	id := nvme.IdentifyCommand(nvme.CNSController, 0)
	bDone := make(chan struct{}, 1)
	b := q.StartFunc(ctx, &id, buf, func() { bDone <- struct{}{} })
	<-inDone // the reader holds b's data, not yet handled

	closed := make(chan struct{})
	go func() { q.Close(); close(closed) }()
	<-q.Done()
	if _, err := b.Wait(ctx); !errors.Is(err, tcp.ErrClosed) {
		t.Fatalf("Wait on a closed queue: %v, want ErrClosed", err)
	}
	close(release)
	<-closed // the reader has handled what it held, and exited
	if !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Errorf("the reader wrote into a buffer whose Wait had returned")
	}
	select {
	case <-bDone:
		t.Errorf("done called for a command whose Wait had returned")
	default:
	}
	if _, err := a.Wait(ctx); err != nil {
		t.Errorf("the answered command: %v", err)
	}
}

// A command that timed out keeps its identifier until its Wait, even if
// the controller answers it first: the identifier is not handed to the
// next command while the slot still holds the timeout for the first
// Wait, so neither Wait gets the other's result, and the next command's
// data lands in its own buffer before its Wait returns.
func TestLateAnswerBeforeWait(t *testing.T) {
	page := bytes.Repeat([]byte{0xAA}, nvme.IdentifySize)
	addr, _ := startScripted(t, func(s *scripted) error {
		a, err := s.capsule()
		if err != nil {
			return err
		}
		c, err := s.capsule() // sent once a timed out
		if err != nil {
			return err
		}
		// a's answer, late, then c's: once c's Wait returns, the
		// reader has handled a's.
		if err := s.send(s.resp(a.CID, 0), s.resp(c.CID, 0)); err != nil {
			return err
		}
		b, err := s.capsule()
		if err != nil {
			return err
		}
		return s.send(s.data(b.CID, 0, page, tcp.FlagDataLast|tcp.FlagDataSuccess))
	})
	q := hostileQueue(t, addr, tcp.HostConfig{Depth: 2, Timeout: 100 * time.Millisecond})
	ctx := context.Background()
	ka := nvme.Command{Opcode: nvme.OpKeepAlive}
	timedOut := make(chan struct{})
	a := q.StartFunc(ctx, &ka, nil, func() { close(timedOut) })
	<-timedOut
	if _, err := q.Start(ctx, &ka, nil).Wait(ctx); err != nil {
		t.Fatalf("the command answered after the late answer: %v", err)
	}
	buf := make([]byte, nvme.IdentifySize)
	id := nvme.IdentifyCommand(nvme.CNSController, 0)
	if _, err := q.Start(ctx, &id, buf).Wait(ctx); err != nil {
		t.Errorf("the next command: %v", err)
	} else if !bytes.Equal(buf, page) {
		t.Errorf("the next command's buffer does not hold its data")
	}
	if _, err := a.Wait(ctx); !errors.Is(err, tcp.ErrTimeout) {
		t.Errorf("the command that timed out: %v, want ErrTimeout", err)
	}
}
