package tcp

import (
	"fmt"
	"time"
)

// The target asks for a write's data with one R2T for the whole transfer
// (so at most one R2T per command is outstanding, whatever the host's
// MAXR2T), and only once the write's buffer fits in the connection's
// WriteBudget and in the shared Budget. Writes wait in the order they
// came. The R2T reserves the budget; the buffer, from the pools of
// budget.go, is taken when the first H2CData arrives and goes back when
// the handler returns or the connection ends.

// queueWrite queues a write for its R2T. Called by the reading goroutine.
func (t *target) queueWrite(x *xfer) *TermError {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.xfers) + len(t.pending); n >= t.cfg.MaxOutstanding {
		return protoErr(FESDataLimit, 0, "%d writes already wait for data", n)
	}
	t.pending = append(t.pending, x)
	t.pumpLocked()
	return nil
}

// pumpLocked sends the R2Ts of the waiting writes that fit in the budgets.
func (t *target) pumpLocked() {
	for len(t.pending) > 0 && t.waiter == nil && !t.closed {
		x := t.pending[0]
		n := bufCharge(x.n)
		if t.held+n > int64(t.cfg.WriteBudget) {
			return
		}
		if b := t.cfg.Budget; b != nil {
			if w := b.take(n, func() { t.granted(x, n) }); w != nil {
				t.waiter = w
				return
			}
		}
		t.pending = t.pending[1:]
		t.startLocked(x, n)
	}
}

// granted is called by the shared budget once n bytes are reserved for
// x, the oldest waiting write.
func (t *target) granted(x *xfer, n int64) {
	t.mu.Lock()
	t.waiter = nil
	if t.closed {
		t.mu.Unlock()
		t.cfg.Budget.release(n)
		return
	}
	t.pending = t.pending[1:]
	t.startLocked(x, n)
	t.pumpLocked()
	t.mu.Unlock()
}

// startLocked gives x its buffer and transfer tag and sends its R2T.
func (t *target) startLocked(x *xfer, n int64) {
	t.held += n
	x.charge = n
	t.ttag++
	for t.xfers[t.ttag] != nil {
		t.ttag++
	}
	x.ttag = t.ttag
	t.xfers[x.ttag] = x
	if d := t.cfg.DataTimeout; d > 0 {
		x.timer = time.AfterFunc(d, func() { t.dataTimedOut(x) })
	}
	h := DataHeader{CID: x.cmd.CID, TTag: x.ttag, Length: uint32(x.n)}
	t.w.send(func(b []byte) []byte { return t.dg.AppendData(b, TypeR2T, 0, h, nil) })
}

// releaseWrite gives back the budget of a write whose handler returned
// (or that will not run).
func (t *target) releaseWrite(n int64) {
	if b := t.cfg.Budget; b != nil {
		b.release(n) // first: the next write of this connection may need it
	}
	t.mu.Lock()
	t.held -= n
	t.pumpLocked()
	t.mu.Unlock()
}

// dataTimedOut cuts the connection off if x still waits for data.
func (t *target) dataTimedOut(x *xfer) {
	t.mu.Lock()
	late := !t.closed && t.xfers[x.ttag] == x
	t.mu.Unlock()
	if late {
		t.cutOff(fmt.Errorf("%w: %d of %d bytes for CID %d after %v", ErrDataTimeout, x.got, x.n, x.cmd.CID, t.cfg.DataTimeout))
	}
}

// cutOff closes the connection from a timer, and makes err the reason
// ServeTarget returns.
func (t *target) cutOff(err error) {
	t.mu.Lock()
	if t.killed == nil && !t.closed {
		t.killed = err
	}
	t.mu.Unlock()
	t.conn.Close()
}

// dropWrites ends the writes still waiting when the connection ends: no
// more R2Ts, buffers and budget given back. Writes whose handler runs give
// theirs back when it returns.
func (t *target) dropWrites() {
	t.mu.Lock()
	t.closed = true
	w := t.waiter
	t.waiter = nil
	var n int64
	for tag, x := range t.xfers {
		if x.timer != nil {
			x.timer.Stop()
		}
		if x.data != nil {
			putBuf(x.data)
		}
		n += x.charge
		delete(t.xfers, tag)
	}
	t.pending = nil
	t.held -= n
	t.mu.Unlock()
	if b := t.cfg.Budget; b != nil {
		if w != nil {
			b.cancel(w) // if granted meanwhile, granted gives the bytes back
		}
		b.release(n)
	}
}
