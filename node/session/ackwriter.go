package session

import (
	"context"
	"sync"
	"time"

	"courier/router/mailbox"
)

// ackWriter records the acknowledgements of every session of a node in the
// mailbox, in batches: while one batch is written the next one gathers, so
// under load one store call (one Redis pipeline) carries many acks, and an
// idle node runs no goroutine. The zero value is ready.
type ackWriter struct {
	mu      sync.Mutex
	queue   []mailbox.Ack
	spare   []mailbox.Ack // the other buffer: batches alternate between two
	running bool
}

// ackGather is the least time between two batches of one writer. The first
// ack after a quiet spell is written at once.
const ackGather = 25 * time.Millisecond

// maxQueuedAcks bounds the acks waiting for a store that is slow or gone.
// Beyond it acks are dropped: their messages come again on the next
// connection (at least once), which is what a lost ack means anyway.
const maxQueuedAcks = 1 << 20

// recordAck queues a for writing. It never blocks on the store.
func (o *Options) recordAck(a mailbox.Ack) {
	w := &o.acks
	w.mu.Lock()
	if len(w.queue) >= maxQueuedAcks {
		w.mu.Unlock()
		o.Log.Warn("acknowledgement dropped: too many waiting for the store", "stream", a.Stream, "seq", a.Seq)
		return
	}
	w.queue = append(w.queue, a)
	start := !w.running
	w.running = true
	w.mu.Unlock()
	if start {
		go o.writeAcks()
	}
}

func (o *Options) writeAcks() {
	w := &o.acks
	for {
		w.mu.Lock()
		batch := w.queue
		if len(batch) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.queue, w.spare = w.spare[:0], nil
		w.mu.Unlock()

		start := time.Now()
		o.storeAcks(batch)
		clear(batch)
		w.mu.Lock()
		w.spare = batch[:0]
		w.mu.Unlock()
		// Let the next batch gather: a device acknowledges many messages of
		// a busy room in that time, and the store takes them in one call.
		time.Sleep(ackGather - time.Since(start))
	}
}

func (o *Options) storeAcks(batch []mailbox.Ack) {
	// No deadline of our own: one per batch would allocate on every batch,
	// and the Redis client bounds each round trip with its own timeouts.
	if err := o.Mailbox.AckBatch(context.Background(), batch); err != nil {
		// The messages stay pending and come again on the next
		// connection: at least once, never lost.
		o.Log.Warn("acks not stored", "acks", len(batch), "err", err)
	}
}

// FlushAcks waits until every acknowledgement received so far is written
// (or ctx ends): a draining node calls it before it stops.
func (o *Options) FlushAcks(ctx context.Context) {
	for {
		o.acks.mu.Lock()
		idle := !o.acks.running
		o.acks.mu.Unlock()
		if idle || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}
