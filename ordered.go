package complchain

import (
	"context"
	"iter"
	"sync"
)

// Map calls f on each value of in, with at most limit calls running at
// once (limit < 1 means 1), and yields the results in the order of in,
// each as soon as it and every result before it are ready.
//
// Map reads in only as fast as results are consumed: at most 2 × limit
// values are read ahead of the consumer, so a slow consumer bounds the
// memory Map uses. Breaking out of the loop, or ctx being done, stops the
// reading of in, cancels the context passed to the calls still running, and
// waits for them before the loop ends: no goroutine outlives it. If ctx is
// done, the last pair yielded carries ctx.Err().
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
		slots := make([]mapSlot[R], window)
		for i := range slots {
			slots[i].ready = make(chan struct{}, 1)
		}
		type job struct {
			i int
			v T
		}
		jobs := make(chan job, limit)
		tokens := make(chan struct{}, window) // one per slot in use
		var wg sync.WaitGroup
		var stopped bool
		defer func() {
			cancel()
			wg.Wait()
		}()
		// The feeder reads in and hands out jobs; workers fill slots.
		wg.Go(func() {
			defer close(jobs)
			i := 0
			for v := range in {
				select {
				case tokens <- struct{}{}:
				case <-ctx.Done():
					return
				}
				select {
				case jobs <- job{i, v}:
				case <-ctx.Done():
					return
				}
				i++
			}
			// A sentinel slot marks the end of the input.
			select {
			case tokens <- struct{}{}:
				s := &slots[i%window]
				s.end = true
				s.ready <- struct{}{}
			case <-ctx.Done():
			}
		})
		for range limit {
			wg.Go(func() {
				for j := range jobs {
					r, err := f(ctx, j.v)
					s := &slots[j.i%window]
					s.r, s.err = r, err
					s.ready <- struct{}{}
				}
			})
		}
		for i := 0; !stopped; i++ {
			s := &slots[i%window]
			select {
			case <-s.ready:
			case <-ctx.Done():
				var zero R
				yield(zero, ctx.Err())
				return
			}
			if s.end {
				return
			}
			r, err := s.r, s.err
			var zero R
			s.r, s.err = zero, nil
			<-tokens
			if !yield(r, err) {
				stopped = true
			}
		}
	}
}

type mapSlot[R any] struct {
	r     R
	err   error
	end   bool
	ready chan struct{}
}
