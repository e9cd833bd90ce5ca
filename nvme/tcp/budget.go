package tcp

import (
	"context"
	"math/bits"
	"sync"
)

// A Budget bounds the bytes of write data that the connections sharing it
// hold at once: from the R2T that asks a host for a write's data until the
// handler of the write has returned. A write whose buffer does not fit
// waits, with its R2T unsent, until other writes give their bytes back;
// writes are granted in the order they asked. Linux's nvmet-tcp has no
// such bound; SPDK's shared buffer pool (num_shared_buffers) plays the
// same part.
//
// A Budget is safe for concurrent use. Share one between the connections
// of a target with TargetConfig.Budget.
type Budget struct {
	mu      sync.Mutex
	limit   int64
	used    int64
	waiters []*budgetWaiter // FIFO
}

type budgetWaiter struct {
	n     int64
	grant func()        // called once granted; if nil, ready is closed
	ready chan struct{} // made by take when grant is nil
}

// NewBudget returns a Budget of limit bytes. A write larger than the
// whole budget is charged the whole budget, so it waits for every other
// write but never forever.
func NewBudget(limit int64) *Budget { return &Budget{limit: max(limit, 1)} }

// Limit returns the budget's size in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// Used returns the bytes held now.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// take reserves n bytes and returns nil, or, if they are not available or
// others wait, queues a waiter and returns it: grant, if not nil, is
// called with no lock held once the n bytes are reserved for it, else the
// waiter's ready channel is closed then.
func (b *Budget) take(n int64, grant func()) *budgetWaiter {
	n = min(n, b.limit)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.waiters) == 0 && b.used+n <= b.limit {
		b.used += n
		return nil
	}
	w := &budgetWaiter{n: n, grant: grant}
	if grant == nil {
		w.ready = make(chan struct{})
	}
	b.waiters = append(b.waiters, w)
	return w
}

// wait reserves n bytes, waiting until they are available; it reports
// false, holding nothing, if ctx is done first. Bytes that are free at
// once cost no allocation.
func (b *Budget) wait(ctx context.Context, n int64) bool {
	w := b.take(n, nil)
	if w == nil {
		return true
	}
	select {
	case <-w.ready:
		return true
	case <-ctx.Done():
		if !b.cancel(w) {
			<-w.ready
			b.release(n)
		}
		return false
	}
}

// cancel removes w from the queue; it reports false if w was granted
// already (its grant has run or is about to, and must give the bytes back).
func (b *Budget) cancel(w *budgetWaiter) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, x := range b.waiters {
		if x == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// release gives n bytes back and grants the waiters they make room for.
func (b *Budget) release(n int64) {
	n = min(n, b.limit)
	b.mu.Lock()
	b.used -= n
	var granted []*budgetWaiter
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.limit {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.used += w.n
		granted = append(granted, w)
	}
	if len(b.waiters) == 0 {
		b.waiters = nil // let the backing array go
	}
	b.mu.Unlock()
	for _, w := range granted {
		if w.grant != nil {
			w.grant()
		} else {
			close(w.ready)
		}
	}
}

// Write buffers come from pools by power-of-two size class, from 4 KiB
// (minBufShift) to 1 MiB (maxBufShift); larger ones are allocated and
// dropped. What the pools keep is bounded by what the budgets let
// connections hold, and the garbage collector empties them when idle.
const (
	minBufShift = 12
	maxBufShift = 20
)

var bufPools [maxBufShift - minBufShift + 1]sync.Pool

// bufClass returns the size class of an n-byte buffer and its capacity;
// class -1 means no pool.
func bufClass(n int) (int, int) {
	if n <= 1<<minBufShift {
		return 0, 1 << minBufShift
	}
	shift := bits.Len(uint(n - 1))
	if shift > maxBufShift {
		return -1, n
	}
	return shift - minBufShift, 1 << shift
}

// GetBuffer returns a buffer of n bytes, not zeroed, from the pools
// ServeTarget takes write buffers from. A Handler may build its response
// data in one and set Response.Release to PutBuffer.
func GetBuffer(n int) []byte { return getBuf(n) }

// PutBuffer gives a buffer from GetBuffer back to its pool.
func PutBuffer(b []byte) { putBuf(b) }

// bufCharge is what an n-byte write buffer costs in a budget.
func bufCharge(n int) int64 {
	_, c := bufClass(n)
	return int64(c)
}

// getBuf returns a buffer of n bytes, not zeroed.
func getBuf(n int) []byte {
	class, c := bufClass(n)
	if class < 0 {
		return make([]byte, n)
	}
	if p, _ := bufPools[class].Get().(*[]byte); p != nil {
		return (*p)[:n]
	}
	return make([]byte, n, c)
}

// putBuf returns a buffer from getBuf to its pool.
func putBuf(b []byte) {
	class, c := bufClass(cap(b))
	if class < 0 || c != cap(b) {
		return
	}
	b = b[:cap(b)]
	bufPools[class].Put(&b)
}
