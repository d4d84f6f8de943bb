package cluster

import "sync"

// eventQueue runs callbacks one at a time, in order, on a goroutine of its own.
// memberlist calls its delegates while holding its node lock, so push must never
// block: the queue is unbounded (membership changes are rare and small).
type eventQueue struct {
	mu     sync.Mutex
	items  []func()
	closed bool
	wake   chan struct{} // capacity 1: "there is work"
	done   chan struct{}
}

func newEventQueue() *eventQueue {
	q := &eventQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

// push queues f; after close it is dropped. Never blocks.
func (q *eventQueue) push(f func()) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, f)
	// Signalled under the lock so close cannot close wake in between.
	select {
	case q.wake <- struct{}{}:
	default:
	}
	q.mu.Unlock()
}

func (q *eventQueue) run() {
	defer close(q.done)
	for range q.wake {
		for {
			q.mu.Lock()
			if q.closed || len(q.items) == 0 {
				closed := q.closed
				q.mu.Unlock()
				if closed {
					return
				}
				break
			}
			f := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.mu.Unlock()
			f()
		}
	}
}

// close drops the events not yet run and waits for the one running, if any.
// Idempotent.
func (q *eventQueue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		q.items = nil
		close(q.wake)
	}
	q.mu.Unlock()
	<-q.done
}
