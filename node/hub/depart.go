package hub

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"courier/router/batch"
	"courier/router/registry"
)

// When every client of a node goes at once (a network blip, a balancer
// reset, the end of a load run), one Remove per closed connection would be
// tens of thousands of round trips at once, each holding a pooled
// connection and a goroutine: the store and the node's CPU are then busy
// enough that gossip probes go unanswered. Departures are gathered instead
// (router/batch): the sessions that closed while a batch was in flight go
// together in the next (a lone one goes at once), with few batches in
// flight. The hub has already forgotten a departing session, so nothing
// here delays a client.
const (
	// departBatch bounds the sessions of one Remove.
	departBatch = 512
	// departFlushers is how many batches may be in flight at once.
	departFlushers = 2
	// departTimeout bounds one batch's attempt.
	departTimeout = 5 * time.Second
	// departAttempts is how often a batch is tried before its sessions are
	// left to healing (RemoveLeft), each retry after a jittered backoff.
	departAttempts = 3
	departBackoff  = 200 * time.Millisecond
)

// departures removes closed sessions from the registry in batches. Safe
// for concurrent use.
type departures struct {
	reg   registry.Sessions
	log   *slog.Logger
	queue *batch.Queue[registry.Session]

	mu   sync.Mutex
	left []registry.Session // attempts exhausted: for RemoveLeft
}

func newDepartures(reg registry.Sessions, log *slog.Logger) *departures {
	d := &departures{reg: reg, log: log}
	d.queue = batch.New(departBatch, departFlushers, d.send)
	return d
}

// add queues s for removal.
func (d *departures) add(s registry.Session) { d.queue.Add(s) }

// send removes one batch, or leaves it to healing.
func (d *departures) send(sessions []registry.Session) {
	if err := d.remove(sessions); err != nil {
		d.log.Warn("closed sessions not unregistered yet; healing retries", "sessions", len(sessions), "err", err)
		d.mu.Lock()
		d.left = append(d.left, sessions...)
		d.mu.Unlock()
	}
}

// remove tries a batch up to departAttempts times, backing off with jitter
// so that the nodes of a cluster that all met a slow store do not retry in
// step.
func (d *departures) remove(sessions []registry.Session) error {
	var err error
	for attempt := range departAttempts {
		if attempt > 0 {
			backoff := departBackoff << (attempt - 1)
			time.Sleep(backoff/2 + rand.N(backoff))
		}
		ctx, cancel := context.WithTimeout(context.Background(), departTimeout)
		err = d.reg.Remove(ctx, sessions...)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

// wait blocks until nothing is queued or in flight, or ctx ends.
func (d *departures) wait(ctx context.Context) { d.queue.Wait(ctx) }

// takeLeft hands over the sessions whose removal gave up.
func (d *departures) takeLeft() []registry.Session {
	d.mu.Lock()
	defer d.mu.Unlock()
	left := d.left
	d.left = nil
	return left
}

// giveBack returns sessions takeLeft handed over that are still not removed.
func (d *departures) giveBack(left []registry.Session) {
	d.mu.Lock()
	d.left = append(d.left, left...)
	d.mu.Unlock()
}
