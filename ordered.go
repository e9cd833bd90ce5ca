package complchain

import (
	"context"
	"iter"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// maxChunk is the most values a Map worker takes at once, and chunkTime
// the work a chunk aims at: quick calls are handed out many at a time, so
// that hand-offs cost little per value; slow calls one at a time, so that
// none waits behind another.
const (
	maxChunk  = 64
	chunkTime = 100 * time.Microsecond
)

// Map calls f on each value of in, with at most limit calls running at
// once (limit < 1 means 1), and yields the results in the order of in,
// each as soon as it and every result before it are ready. It is
// MapWindow with the default reorder window of 64 × (limit + 2) values:
// room for a full chunk for every worker and two for the consumer.
func Map[T, R any](ctx context.Context, in iter.Seq[T], limit int, f func(context.Context, T) (R, error)) iter.Seq2[R, error] {
	limit = max(limit, 1)
	window := math.MaxInt
	if limit <= window/maxChunk-2 {
		window = maxChunk * (limit + 2)
	}
	return MapWindow(ctx, in, limit, window, f)
}

// MapWindow calls f on each value of in, with at most limit calls running
// at once (limit < 1 means 1), and yields the results in the order of in,
// each as soon as it and every result before it are ready.
//
// The reorder window is how many values may be under way: read from in
// and not yet yielded (one more may have been read from in and wait for
// room), whether their call runs, is done and waits for a
// predecessor's, or waits for the consumer (a window below limit means
// limit). While one call is slow, the others go on with the values after
// it until the window is full, so one slow call stalls nothing until then;
// a slow consumer holds Map back at the same bound. A larger window rides
// out a longer stall of one call, at the cost of memory for its results; a
// window of limit makes Map as strict as a pipeline of limit stages.
// Memory follows the values in flight, never the window or the limit.
//
// Values are handed to the calls in chunks: one value at a time while f
// is slow or nothing else is in flight, up to 64 at a time once f proves quick
// (under about 1.5 µs a call), which makes Map cheap for tiny functions.
// Breaking out of the loop, or ctx being done, stops the reading of in,
// cancels the context passed to the calls still running, starts no further
// call (values read and not yet passed to f are dropped), and waits for the
// calls under way before the loop ends: no goroutine outlives it. If ctx is
// done, the last pair yielded carries ctx.Err().
//
// A call's error is yielded with its result, in order; Map goes on with
// the rest unless the consumer stops. Each range over the sequence Map
// returns runs it anew and ranges over in again. A panic in f is not recovered, as
// in Group: it ends the program from the worker's goroutine.
func MapWindow[T, R any](ctx context.Context, in iter.Seq[T], limit, window int, f func(context.Context, T) (R, error)) iter.Seq2[R, error] {
	limit = max(limit, 1)
	window = max(window, limit)
	return func(yield func(R, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		m := &mapper[T, R]{ctx: ctx, f: f, limit: limit, budget: window, jobs: make(chan *mapChunk[T, R], 1)}
		m.space.L = &m.mu
		defer func() {
			m.stopped.Store(true)
			cancel()
			m.wg.Wait()
		}()
		// Wake the feeder and the consumer when ctx is done.
		m.wg.Go(func() {
			<-ctx.Done()
			m.stopped.Store(true)
			m.mu.Lock()
			m.space.Broadcast()
			m.mu.Unlock()
		})
		m.wg.Go(func() { m.feed(in) })
		var zero R
		var c *mapChunk[T, R]
		for {
			c = m.next(c)
			if c == nil { // in is exhausted and every result was yielded
				if err := ctx.Err(); err != nil {
					yield(zero, err)
				}
				return
			}
			if !c.isSent() {
				// The feeder is filling c: let it go on a moment, then
				// take c, as in may be waiting for these results.
				runtime.Gosched()
				m.take(c)
			}
			select {
			case <-c.ready:
			case <-ctx.Done():
				yield(zero, ctx.Err())
				return
			}
			for _, o := range c.out {
				if !yield(o.r, o.err) {
					return
				}
			}
			if len(c.out) < c.n { // the calls stopped as ctx was done
				yield(zero, ctx.Err())
				return
			}
		}
	}
}

// A mapper is the state of one MapWindow loop. The feeder reads in into
// chunks, queues each in order and hands it to a worker; workers fill in
// the results; the consumer takes the queued chunks in order.
type mapper[T, R any] struct {
	// Read for each value, and written at most once: apart from the
	// fields written for each chunk, so that reading them costs no
	// cache miss.
	ctx    context.Context
	f      func(context.Context, T) (R, error)
	limit  int
	budget int // values read and not yet consumed, at most
	// stopped is set once ctx is done, before the loop's cancel: workers
	// test it before each call, where ctx.Err would cost more.
	stopped atomic.Bool
	_       [64]byte

	wg sync.WaitGroup

	mu      sync.Mutex
	space   sync.Cond         // the budget has room, or the consumer stopped
	queue   []*mapChunk[T, R] // chunks in input order, from qhead
	qhead   int
	pending int  // room reserved by queued chunks not yet consumed
	fed     bool // the feeder is done: no chunk will be queued
	free    []*mapChunk[T, R]

	jobs     chan *mapChunk[T, R]
	workers  atomic.Int64 // started
	taking   int          // sends by take under way, guarded by mu
	idle     atomic.Int32 // workers waiting for a chunk
	inflight atomic.Int32 // chunks queued and not yet consumed
	perCall  atomic.Int64 // ns per call of f, a moving average of the chunks run
}

// A mapChunk is a run of consecutive values of in and their results. The
// feeder fills it without a lock: word holds the number of values in it,
// shifted left by one, and chunkSent once it is handed to a worker, by the
// feeder or by the consumer (take). The feeder writes a value into its
// slot, then publishes it with a compare-and-swap of word that fails if
// the chunk was handed over meanwhile: exactly the values published before
// the hand-over are the chunk's, and the slots beyond them stay the
// feeder's.
type mapChunk[T, R any] struct {
	// The feeder's line: it writes word for each value it adds.
	word atomic.Uint64
	size int // room reserved in the budget
	n    int // values handed over, set by whoever sent the chunk
	in   []T // the slots, as many as the room first reserved; in[:n] once sent
	_    [64 - 8 - 8 - 8 - 24]byte
	// The worker's line: it writes out for each result. Apart from the
	// feeder's, so that filling one chunk does not contend with the
	// results of the chunk allocated next to it.
	out   []mapResult[R]
	ready chan struct{} // one token when out is filled
	_     [64 - 24 - 8]byte
}

// chunkSent is the bit of mapChunk.word set once the chunk is handed to a
// worker; the count of values is above it.
const chunkSent = 1

type mapResult[R any] struct {
	r   R
	err error
}

// feed reads in, in chunks, until it ends or the loop stops.
func (m *mapper[T, R]) feed(in iter.Seq[T]) {
	var c *mapChunk[T, R] // the chunk being filled
	started := false      // every worker the limit allows was started
	defer func() {
		if c != nil { // the loop stopped: nothing may take c any more
			c.seal()
		}
		m.mu.Lock()
		m.fed = true
		if m.taking == 0 {
			close(m.jobs)
		}
		m.space.Broadcast()
		m.mu.Unlock()
	}()
	for v := range in {
		// A chunk goes out when it is full, at once while nothing else is
		// in flight, and while workers are still being started. One the
		// consumer reaches while in is being read it takes itself (take):
		// a slow input never leaves values waiting.
		n := 0
		if c != nil {
			n = c.add(v)
		}
		if n == 0 {
			if c = m.acquire(v); c == nil {
				return
			}
			n = 1
		}
		if !started { // workers are never stopped while in is read
			started = m.workers.Load() >= int64(m.limit)
		}
		if n < len(c.in) && m.inflight.Load() != 1 && (started || m.idle.Load() != 0) {
			continue
		}
		sent := c
		c = nil
		if sent.seal() && !m.send(sent) {
			return
		}
	}
	if last := c; last != nil {
		c = nil
		if last.seal() {
			m.send(last)
		}
	}
}

// add puts v in c's next slot and returns the number of values c holds
// with it, or 0 if c is full or was handed to a worker before v was in:
// then v is not c's.
func (c *mapChunk[T, R]) add(v T) int {
	w := c.word.Load()
	k := int(w >> 1)
	if w&chunkSent != 0 || k == len(c.in) {
		return 0
	}
	c.in[k] = v
	if c.word.CompareAndSwap(w, w+2) {
		return k + 1
	}
	var zero T
	c.in[k] = zero // the slot stays the feeder's: drop v from it
	return 0
}

// seal hands c over, sets c.n to the number of values it holds, and
// reports whether the caller is the one that handed it over (false: it
// was already, and c.n is the sender's).
func (c *mapChunk[T, R]) seal() bool {
	for {
		w := c.word.Load()
		if w&chunkSent != 0 {
			return false
		}
		if c.word.CompareAndSwap(w, w|chunkSent) {
			c.n = int(w >> 1)
			return true
		}
	}
}

// isSent reports whether c was handed to a worker.
func (c *mapChunk[T, R]) isSent() bool { return c.word.Load()&chunkSent != 0 }

// take hands c, the head chunk, to a worker if the feeder has not sent it
// yet: the feeder may be waiting for in, which may wait for c's results.
func (m *mapper[T, R]) take(c *mapChunk[T, R]) {
	if !c.seal() {
		return
	}
	m.mu.Lock()
	m.taking++ // the feeder must not close jobs under this send
	m.mu.Unlock()
	m.send(c)
	m.mu.Lock()
	m.taking--
	if m.fed && m.taking == 0 {
		close(m.jobs)
	}
	m.mu.Unlock()
}

// acquire waits until the budget has room, and returns a chunk holding v,
// queued in input order with room reserved for up to size values, or nil
// if the loop stopped.
func (m *mapper[T, R]) acquire(v T) *mapChunk[T, R] {
	size := 1
	if ns := m.perCall.Load(); ns > 0 {
		size = int(min(max(int64(chunkTime)/ns, 1), maxChunk))
	}
	size = min(size, max(m.budget/m.limit, 1))
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.pending >= m.budget && m.ctx.Err() == nil {
		m.space.Wait()
	}
	if m.ctx.Err() != nil {
		return nil
	}
	var c *mapChunk[T, R]
	if n := len(m.free); n > 0 {
		c, m.free = m.free[n-1], m.free[:n-1]
	} else {
		c = &mapChunk[T, R]{ready: make(chan struct{}, 1)}
	}
	c.size = min(size, m.budget-m.pending)
	m.pending += c.size
	if cap(c.in) < c.size {
		c.in = make([]T, c.size)
	}
	c.in = c.in[:c.size]
	c.in[0] = v
	c.word.Store(1 << 1) // in the queue with its first value
	m.queue = append(m.queue, c)
	m.inflight.Add(1)
	m.space.Broadcast() // the consumer may wait for a chunk to be queued
	return c
}

// send hands c to a worker, starting one if none is idle and the limit
// allows, and reports false if the loop stopped. Room reserved in c and
// not used returns to the budget.
func (m *mapper[T, R]) send(c *mapChunk[T, R]) bool {
	if unused := c.size - c.n; unused > 0 {
		m.mu.Lock()
		m.pending -= unused
		c.size = c.n
		m.mu.Unlock()
	}
	if m.idle.Load() == 0 {
		m.start()
	}
	select {
	case m.jobs <- c:
		return true
	default:
	}
	// No room: the idle worker counted above may have taken a chunk
	// since, and be busy with it (it may even be the slow call all the
	// others wait for). Another worker, if the limit allows, takes c.
	m.start()
	select {
	case m.jobs <- c:
		return true
	case <-m.ctx.Done():
		return false
	}
}

// start starts a worker if fewer than limit were started.
func (m *mapper[T, R]) start() {
	if m.workers.Add(1) <= int64(m.limit) {
		m.wg.Go(m.work)
	} else {
		m.workers.Add(-1)
	}
}

// work runs the calls of the chunks it is handed until the feeder is done.
func (m *mapper[T, R]) work() {
	for {
		m.idle.Add(1)
		c, ok := <-m.jobs
		m.idle.Add(-1)
		if !ok {
			return
		}
		start := time.Now()
		out := c.out[:0]
		if cap(out) < c.n {
			out = make([]mapResult[R], 0, c.n)
		}
		ctx, f := m.ctx, m.f
		for _, v := range c.in[:c.n] {
			if m.stopped.Load() {
				break // the loop stopped: no further call
			}
			r, err := f(ctx, v)
			out = append(out, mapResult[R]{r, err})
		}
		c.out = out
		if n := len(out); n > 0 {
			// An average over the last chunks, not the last one: with
			// calls of mixed lengths, one quick chunk must not make the
			// next chunks long enough to hold a slow call and those
			// behind it in one worker. (Concurrent updates may lose one:
			// it is a hint.)
			ns := int64(time.Since(start)) / int64(n)
			if old := m.perCall.Load(); old > 0 {
				ns = old + (ns-old)/8
			}
			m.perCall.Store(max(ns, 1))
		}
		c.ready <- struct{}{}
	}
}

// next returns the consumed chunk c, if any, to the free list and its
// room to the budget, and then returns the oldest queued chunk, waiting
// for the feeder if none is queued, or nil once the feeder is done and
// every chunk was consumed: one lock for both.
func (m *mapper[T, R]) next(c *mapChunk[T, R]) *mapChunk[T, R] {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c != nil {
		popFront(&m.queue, &m.qhead)
		m.pending -= c.size
		m.inflight.Add(-1)
		clear(c.in[:c.n])
		clear(c.out) // the results were yielded: keep none alive
		c.out = c.out[:0]
		m.free = append(m.free, c)
		m.space.Broadcast()
	}
	for m.qhead == len(m.queue) {
		if m.fed || m.ctx.Err() != nil {
			return nil
		}
		m.space.Wait()
	}
	return m.queue[m.qhead]
}
