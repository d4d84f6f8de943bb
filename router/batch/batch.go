// Package batch gathers work that arrives while earlier work is in flight
// into one call, as a node's arrivals and departures need in a connect or
// disconnect storm: one pipeline for hundreds of items instead of a round
// trip, a pooled connection and a goroutine apiece. A lone item goes at
// once; a few batches at most are in flight.
package batch

import (
	"context"
	"sync"
)

// Queue hands queued items to send in batches of at most Max, with at most
// Flushers batches in flight. Make it with New; safe for concurrent use.
type Queue[T any] struct {
	max, flushers int
	send          func([]T)

	mu      sync.Mutex
	items   []T
	running int        // flushers at work
	idle    *sync.Cond // signalled when running drops to 0
}

// New makes a Queue that calls send with each batch, on a flusher's
// goroutine; send owns the slice.
func New[T any](max, flushers int, send func([]T)) *Queue[T] {
	q := &Queue[T]{max: max, flushers: flushers, send: send}
	q.idle = sync.NewCond(&q.mu)
	return q
}

// Add queues item for the next batch.
func (q *Queue[T]) Add(item T) {
	q.mu.Lock()
	q.items = append(q.items, item)
	start := q.running < q.flushers
	if start {
		q.running++
	}
	q.mu.Unlock()
	if start {
		go q.flush()
	}
}

// flush sends batches until the queue is empty.
func (q *Queue[T]) flush() {
	for {
		q.mu.Lock()
		n := min(len(q.items), q.max)
		if n == 0 {
			q.running--
			if q.running == 0 {
				q.idle.Broadcast()
			}
			q.mu.Unlock()
			return
		}
		batch := append([]T(nil), q.items[:n]...)
		q.items = append(q.items[:0], q.items[n:]...)
		q.mu.Unlock()
		q.send(batch)
	}
}

// Wait blocks until nothing is queued or in flight, or ctx ends.
func (q *Queue[T]) Wait(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.idle.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for (q.running > 0 || len(q.items) > 0) && ctx.Err() == nil {
		q.idle.Wait()
	}
}
