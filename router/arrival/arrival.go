// Package arrival does the store work of a session's arrival in as few
// round trips as the stores allow: registering it, reading the rooms its
// device was in and the first reads of its streams go together (one
// pipeline on Redis), then entering those rooms with their first reads
// (a second one). A connect storm is mostly this work, so it is where the
// cluster's cost per connection is won (router/README.md, "Cost of a
// connection").
package arrival

import (
	"context"

	"courier/router/mailbox"
	"courier/router/registry"
)

// Read is one first read of a stream for a device (mailbox.Log.Pending).
type Read struct {
	Stream mailbox.Stream
	Device string
	After  uint64
	Limit  int
}

// Result is what one Read got, or why it failed.
type Result struct {
	Msgs []mailbox.Message
	Err  error
}

// Store is the arrival work of one session. It is safe for concurrent use;
// both methods block on the stores. Results come in the order of reads,
// each with its own error; err is the registry's.
type Store interface {
	// Arrive registers s (registry.Sessions.Arrive, with maxRooms) and
	// does reads.
	Arrive(ctx context.Context, s registry.Session, maxRooms int, reads []Read) (arrived registry.Arrived, got []Result, err error)
	// Enter makes s a member of rooms Arrive returned (registry.Sessions.Enter:
	// the caller holds off Remove meanwhile) and does reads.
	Enter(ctx context.Context, s registry.Session, rooms []string, reads []Read) (got []Result, err error)
}

// New returns a Store over any registry and log, one call after another:
// right for the in-memory stores, where a call costs no round trip.
func New(reg registry.Sessions, log mailbox.Log) Store { return calls{reg, log} }

type calls struct {
	reg registry.Sessions
	log mailbox.Log
}

func (c calls) Arrive(ctx context.Context, s registry.Session, maxRooms int, reads []Read) (registry.Arrived, []Result, error) {
	arrived, err := c.reg.Arrive(ctx, s, maxRooms)
	return arrived, c.read(ctx, reads), err
}

func (c calls) Enter(ctx context.Context, s registry.Session, rooms []string, reads []Read) ([]Result, error) {
	err := c.reg.Enter(ctx, s, rooms)
	return c.read(ctx, reads), err
}

func (c calls) read(ctx context.Context, reads []Read) []Result {
	got := make([]Result, len(reads))
	for i, r := range reads {
		got[i].Msgs, got[i].Err = c.log.Pending(ctx, r.Stream, r.Device, r.After, r.Limit)
	}
	return got
}
