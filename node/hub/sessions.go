package hub

import (
	"context"
	"strings"
	"time"

	"courier/node/session"
	"courier/router/mailbox"
	"courier/router/opsbus"
)

// Remove forgets s once its connection closed: here at once, in the
// registry with the next batch of departures (depart.go). Removing a
// session twice does nothing the second time.
func (h *Hub) Remove(s *session.Session, reason string) {
	s.Closed(session.ReasonClientClose)
	if !h.local.remove(s) {
		return
	}
	h.missing.remove(s)
	h.departing.add(h.registryEntry(s))
	if s.Traced() {
		// The node's own reason (kicked, replaced, slow_consumer, ...), or
		// the connection's when the client went (transport close, ping timeout).
		why := s.CloseReason()
		if why == session.ReasonClientClose {
			why = reason
		}
		s.Publish(opsbus.Event{Type: opsbus.TypeDisconnect, Reason: why})
	}
	h.log.Debug("session closed", "session", s.ID(), "user", s.User, "reason", reason)
}

// AwaitDepartures waits, within ctx, until the sessions closed so far are
// removed from the registry or left to RemoveLeft.
func (h *Hub) AwaitDepartures(ctx context.Context) { h.departing.wait(ctx) }

// RemoveLeft removes from the registry the closed sessions whose batched
// removal failed, for healing; it returns how many it removed.
func (h *Hub) RemoveLeft(ctx context.Context) (int, error) {
	left := h.departing.takeLeft()
	if len(left) == 0 {
		return 0, nil
	}
	if err := h.cfg.Registry.Remove(ctx, left...); err != nil {
		h.departing.giveBack(left)
		return 0, err
	}
	return len(left), nil
}

// CloseAll closes every session here with reason, each telling its client,
// spread evenly over spread so that their reconnects reach the other nodes
// over time; what is left when ctx ends is closed at once.
func (h *Hub) CloseAll(ctx context.Context, reason string, spread time.Duration) {
	sessions := h.local.all()
	start := time.Now()
	for i, s := range sessions {
		if spread > 0 && ctx.Err() == nil {
			at := start.Add(spread * time.Duration(i) / time.Duration(len(sessions)))
			// Wait in steps of at least a few ms: a timer per session of a
			// large node would cost more than the spread gains.
			if wait := time.Until(at); wait >= closeStep {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
				}
				t.Stop()
			}
		}
		s.Close(reason)
	}
}

// closeStep is the shortest wait between two batches of CloseAll.
const closeStep = 5 * time.Millisecond

// Count is the number of sessions held here.
func (h *Hub) Count() int { return h.local.count() }

// Sessions lists the sessions held here.
func (h *Hub) Sessions() []*session.Session { return h.local.all() }

// RoomsOf lists the rooms s is in.
func (h *Hub) RoomsOf(s *session.Session) []string { return h.local.roomsOf(s) }

// StreamReaders lists the sessions here that read stream.
func (h *Hub) StreamReaders(stream mailbox.Stream) []*session.Session {
	name := string(stream)
	switch {
	case stream == mailbox.AllStream:
		return h.readers(addressed{stream: stream})
	case strings.HasPrefix(name, "u:"):
		return h.readers(addressed{stream: stream, user: name[2:]})
	case strings.HasPrefix(name, "r:"):
		return h.readers(addressed{stream: stream, room: name[2:]})
	}
	return nil
}

// Reregister writes s and its rooms to the registry again, for a registry
// that lost them (a store restarted empty, a purge across a partition).
func (h *Hub) Reregister(ctx context.Context, s *session.Session) error {
	entry := h.registryEntry(s)
	if err := h.cfg.Registry.Add(ctx, entry); err != nil {
		return err
	}
	for _, room := range h.local.roomsOf(s) {
		_ = h.cfg.Registry.Join(ctx, room, entry)
	}
	return nil
}
