package tcp

import (
	"net"
	"runtime"
	"sync"
	"time"
)

// A batchWriter collects PDUs from any number of goroutines and writes
// everything collected so far in one Write from a goroutine of its own, so
// concurrent responses share system calls.
type batchWriter struct {
	conn     net.Conn
	mu       sync.Mutex
	buf      []byte
	spare    []byte
	closing  bool
	err      error // first write error; set before done is closed
	wake     chan struct{}
	done     chan struct{}
	onErr    func(error)   // called, if set, from the writer goroutine after a write fails
	limit    int           // sendLimited waits while this many bytes are queued
	timeout  time.Duration // if positive, each write must finish within it (at least half of it)
	deadline time.Time     // the write deadline set; owned by the writer goroutine
	budget   *Budget       // given back charged bytes once written
	charged  int64         // charged bytes in buf
	room     sync.Cond     // signalled when the writer takes the queue, fails or closes
}

// newBatchWriter starts a writer on conn; onErr, if not nil, is called
// from the writer goroutine when a write fails.
func newBatchWriter(conn net.Conn, onErr func(error)) *batchWriter {
	w := &batchWriter{conn: conn, onErr: onErr, wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.room.L = &w.mu
	go w.loop()
	return w
}

// send appends PDUs with appendPDU and wakes the writer. It never blocks on
// the connection.
func (w *batchWriter) send(appendPDU func([]byte) []byte) {
	w.mu.Lock()
	if w.err == nil && !w.closing {
		w.buf = appendPDU(w.buf)
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// sendLimited is send, but first waits while w.limit bytes or more are
// queued and the writer still writes: a peer that does not read holds
// back the senders instead of making the queue grow without bound.
//
// charge bytes of w.budget are given back once the PDUs are written (or
// the writer stopped).
func (w *batchWriter) sendLimited(appendPDU func([]byte) []byte, charge int64) {
	w.mu.Lock()
	for w.limit > 0 && len(w.buf) >= w.limit && w.err == nil && !w.closing {
		w.room.Wait()
	}
	if w.err == nil && !w.closing {
		w.buf = appendPDU(w.buf)
		w.charged += charge
		charge = 0
	}
	w.mu.Unlock()
	if charge > 0 {
		w.budget.release(charge)
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// setTimeout bounds each write from now on, the one under way included,
// to d.
func (w *batchWriter) setTimeout(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timeout = d
	w.conn.SetWriteDeadline(time.Now().Add(d)) // the writer re-arms it within d/2
}

// close writes what was sent before it and stops the writer.
func (w *batchWriter) close() {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.done
}

func (w *batchWriter) loop() {
	defer func() {
		w.mu.Lock()
		w.closing = true // nothing more is written: wake and drop the senders
		w.room.Broadcast()
		charged := w.charged
		w.charged = 0
		w.mu.Unlock()
		if charged > 0 {
			w.budget.release(charged)
		}
		close(w.done)
		if w.err != nil && w.onErr != nil {
			w.onErr(w.err)
		}
	}()
	for range w.wake {
		// Let the goroutines that are ready to run, typically handlers or
		// callers about to queue more PDUs, do so first: one write then
		// carries many PDUs. On loopback this cuts the cost of a 4 KiB
		// Identify at depth 32 to a third.
		runtime.Gosched()
		w.mu.Lock()
		b, closing, timeout, charged := w.buf, w.closing, w.timeout, w.charged
		w.charged = 0
		w.buf, w.spare = w.spare[:0], nil
		w.room.Broadcast()
		w.mu.Unlock()
		var err error
		if len(b) > 0 {
			if timeout > 0 {
				// Re-armed only when half used up, or when further off
				// than timeout (setTimeout shortened it): setting a
				// deadline on each write costs more than the write on
				// some wrappers.
				now := time.Now()
				if left := w.deadline.Sub(now); left < timeout/2 || left > timeout {
					w.deadline = now.Add(timeout)
					w.conn.SetWriteDeadline(w.deadline)
				}
			}
			_, err = w.conn.Write(b)
		}
		if charged > 0 {
			w.budget.release(charged) // written, or never will be
		}
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.room.Broadcast()
			w.mu.Unlock()
			return
		}
		w.mu.Lock()
		w.spare = b[:0]
		empty := len(w.buf) == 0
		w.mu.Unlock()
		if closing && empty {
			return
		}
	}
}
