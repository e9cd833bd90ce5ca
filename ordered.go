package complchain

import (
	"context"
	"iter"
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
	chunkTime = 20 * time.Microsecond
)

// Map calls f on each value of in, with at most limit calls running at
// once (limit < 1 means 1), and yields the results in the order of in,
// each as soon as it and every result before it are ready.
//
// Values are handed to the calls in chunks: one value at a time while f
// is slow, up to 64 at a time once f proves quick (under about 300 ns a
// call), which makes Map cheap for tiny functions. Map reads in only as
// fast as results are consumed: at most 2 × limit chunks ahead of the
// consumer, so a slow consumer bounds the memory Map uses. Breaking out of
// the loop, or ctx being done, stops the reading of in, cancels the context
// passed to the calls still running, and waits for them before the loop
// ends: no goroutine outlives it. If ctx is done, the last pair yielded
// carries ctx.Err().
//
// A call's error is yielded with its result, in order; Map goes on with
// the rest unless the consumer stops.
func Map[T, R any](ctx context.Context, in iter.Seq[T], limit int, f func(context.Context, T) (R, error)) iter.Seq2[R, error] {
	if limit < 1 {
		limit = 1
	}
	return func(yield func(R, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		window := 2 * limit
		slots := make([]mapSlot[T, R], window)
		for i := range slots {
			slots[i].ready = make(chan struct{}, 1)
		}
		jobs := make(chan *mapSlot[T, R], limit)
		free := make(chan struct{}, window) // one per slot in use
		var perCall atomic.Int64            // ns per call of f, as last measured
		var wg sync.WaitGroup
		defer func() {
			cancel()
			wg.Wait()
		}()
		// The feeder reads in into chunks; workers fill their results. A
		// chunk goes out when it is full, or at once when nothing else is
		// in flight, so a slow input never leaves values waiting.
		wg.Go(func() {
			defer close(jobs)
			var s *mapSlot[T, R]
			i, size := 0, 1
			acquire := func() bool {
				select {
				case free <- struct{}{}:
				case <-ctx.Done():
					return false
				}
				s = &slots[i%window]
				i++
				s.in = s.in[:0]
				size = 1
				if ns := perCall.Load(); ns > 0 {
					size = int(min(max(int64(chunkTime)/ns, 1), maxChunk))
				}
				return true
			}
			send := func() bool {
				select {
				case jobs <- s:
					s = nil
					return true
				case <-ctx.Done():
					return false
				}
			}
			for v := range in {
				if s == nil && !acquire() {
					return
				}
				s.in = append(s.in, v)
				if (len(s.in) >= size || len(free) == 1) && !send() {
					return
				}
			}
			if s != nil && !send() {
				return
			}
			if acquire() {
				s.end = true
				s.ready <- struct{}{}
			}
		})
		for range limit {
			wg.Go(func() {
				for s := range jobs {
					start := time.Now()
					s.out = s.out[:0]
					for _, v := range s.in {
						r, err := f(ctx, v)
						s.out = append(s.out, mapResult[R]{r, err})
					}
					perCall.Store(max(int64(time.Since(start))/int64(len(s.in)), 1))
					s.ready <- struct{}{}
				}
			})
		}
		var zero R
		for i := 0; ; i++ {
			s := &slots[i%window]
			select {
			case <-s.ready:
			case <-ctx.Done():
				yield(zero, ctx.Err())
				return
			}
			if s.end {
				return
			}
			for j, o := range s.out {
				if !yield(o.r, o.err) {
					return
				}
				s.out[j] = mapResult[R]{}
			}
			clear(s.in)
			<-free
		}
	}
}

type mapResult[R any] struct {
	r   R
	err error
}

type mapSlot[T, R any] struct {
	in    []T
	out   []mapResult[R]
	end   bool
	ready chan struct{}
}
