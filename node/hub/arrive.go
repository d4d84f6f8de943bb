package hub

import (
	"context"
	"slices"
	"sync"
	"time"

	"courier/node/session"
	"courier/router/arrival"
	"courier/router/mailbox"
	"courier/router/opsbus"
)

// Arrive registers s cluster-wide, holds it here and opens its streams:
// its mailbox, the log of pushes to all, and the rooms its device was in
// (those its token still allows, up to MaxRooms), each replaying what the
// device has not acknowledged. Its store work is two round trips at most,
// one without rooms (router/arrival). Failures are logged, not fatal: the
// session still gets its messages here, a failed read is retried with
// backoff, and the node's healing registers it again.
//
// Call it before the connection's close callback can run, so that Remove
// comes after it: Enter relies on it.
func (h *Hub) Arrive(ctx context.Context, s *session.Session) {
	entry := h.registryEntry(s)
	// In the index before the first reads: a push from now on reaches it
	// live and waits for them, one before them is in them.
	h.arriving.Add(1)
	defer h.arriving.Add(-1)
	h.local.add(s)
	traced := s.Traced()
	if traced {
		s.Publish(opsbus.Event{Type: opsbus.TypeConnect})
	}

	var opened []session.FirstRead
	if r, ok := s.Open(mailbox.UserStream(s.User), 2); ok {
		opened = append(opened, r)
	}
	if r, ok := s.Open(mailbox.AllStream, 2); ok {
		if h.all.holdsNothing(h) {
			s.Opened(r, nil, nil)
		} else {
			opened = append(opened, r)
		}
	}
	arrived, got, err := h.cfg.Arrival.Arrive(ctx, entry, h.cfg.MaxRooms, reads(opened))
	if err != nil {
		h.log.Warn("session not registered; healing registers it later", "session", s.ID(), "err", err)
		h.missing.add(s)
	}
	hand(s, opened, got)
	if err != nil {
		return // its remembered rooms are unknown; it is in none here either
	}
	if max := h.cfg.MaxSessionsPerUser; max > 0 && arrived.Sessions > max {
		go h.replaceOldest(s.User, arrived.Sessions-max)
	}
	rooms := arrived.Rooms

	opened = opened[:0]
	var entered []string
	for _, room := range rooms {
		if !s.MayJoin(room) {
			continue // no longer allowed by its token
		}
		h.local.join(room, s)
		entered = append(entered, room)
		if r, ok := s.Open(mailbox.RoomStream(room), len(rooms)); ok {
			opened = append(opened, r)
		}
	}
	// A join that came in while it registered (an API join) found it here
	// but not in the registry: registered now, the long way.
	for _, room := range h.local.roomsOf(s) {
		if !slices.Contains(rooms, room) {
			if err := h.cfg.Registry.Join(ctx, room, entry); err != nil {
				h.log.Warn("room membership not registered", "session", s.ID(), "room", room, "err", err)
			}
		}
	}
	if len(entered) == 0 {
		return
	}
	if traced {
		for _, room := range entered {
			s.Publish(opsbus.Event{Type: opsbus.TypeJoin, Room: room, Reason: "restored"})
		}
	}
	got, err = h.cfg.Arrival.Enter(ctx, entry, entered, reads(opened))
	if err != nil {
		h.log.Warn("room memberships not registered", "session", s.ID(), "rooms", len(entered), "err", err)
	}
	hand(s, opened, got)
}

// RegisteredCount is the number of sessions held here that registered:
// the registry holds at least as many, unless it lost some.
func (h *Hub) RegisteredCount() int {
	return h.local.count() - int(h.arriving.Load()) - h.missing.count()
}

func reads(opened []session.FirstRead) []arrival.Read {
	out := make([]arrival.Read, len(opened))
	for i, r := range opened {
		out[i] = arrival.Read{Stream: r.Stream, Device: r.Device, After: r.After, Limit: r.Limit}
	}
	return out
}

// hand gives each opened stream its read.
func hand(s *session.Session, opened []session.FirstRead, got []arrival.Result) {
	for i, r := range opened {
		s.Opened(r, got[i].Msgs, got[i].Err)
	}
}

// allLog knows, for a while, that the log of pushes to all holds nothing,
// so that arrivals skip reading it: a push to all is rare, a connect storm
// is not. What it knows comes from a Held probe (at most one at a time)
// and lasts allLogFresh; any message of that log seen here (delivered
// live, or nudged) ends it at once. Seen after a session entered the index,
// such a message reaches the session live, so skipping the read loses
// nothing.
type allLog struct {
	mu        sync.Mutex
	seen      uint64    // messages of the log seen here, ever
	emptyTill time.Time // the log held nothing as of a probe; good until then
	probing   bool
}

// allLogFresh is how long a probe's "holds nothing" is trusted without news.
const allLogFresh = time.Second

// holdsNothing reports whether the log surely holds nothing now; when it
// cannot tell, it starts a probe for the next arrivals.
func (a *allLog) holdsNothing(h *Hub) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if now.Before(a.emptyTill) {
		return true
	}
	if !a.probing {
		a.probing = true
		go a.probe(h, a.seen, now)
	}
	return false
}

func (a *allLog) probe(h *Hub, seen uint64, start time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), allLogFresh)
	n, err := h.cfg.Mailbox.Held(ctx, mailbox.AllStream)
	cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.probing = false
	if err == nil && n == 0 && a.seen == seen {
		a.emptyTill = start.Add(allLogFresh)
	}
}

// saw records a message of the log, seen here.
func (a *allLog) saw() {
	a.mu.Lock()
	a.seen++
	a.emptyTill = time.Time{}
	a.mu.Unlock()
}

// missing holds the sessions here whose registration failed (the store was
// slow or down when they arrived). Healing registers them again first, one
// by one, and only then compares counts: a few failed registrations must
// not look like a store that lost this node's sessions, whose cure (every
// session registered again and read from the start) would feed the very
// overload that made them fail.
type missing struct {
	mu  sync.Mutex
	set map[*session.Session]struct{}
}

func (m *missing) add(s *session.Session) {
	m.mu.Lock()
	if m.set == nil {
		m.set = make(map[*session.Session]struct{})
	}
	m.set[s] = struct{}{}
	m.mu.Unlock()
}

func (m *missing) remove(s *session.Session) {
	m.mu.Lock()
	delete(m.set, s)
	m.mu.Unlock()
}

func (m *missing) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.set)
}

func (m *missing) list() []*session.Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*session.Session, 0, len(m.set))
	for s := range m.set {
		out = append(out, s)
	}
	return out
}

// RegisterMissing registers the sessions whose registration failed, puts
// each back in the rooms its device was in (its arrival never learnt them),
// and has each read its streams past what it queued: pushes made meanwhile
// did not find it. It stops at the first store error (the next heal goes
// on) and returns how many it registered.
func (h *Hub) RegisterMissing(ctx context.Context) (int, error) {
	n := 0
	for _, s := range h.missing.list() {
		if err := h.Reregister(ctx, s); err != nil {
			return n, err
		}
		rooms, err := h.cfg.Registry.DeviceRooms(ctx, s.User, s.Device)
		if err != nil {
			return n, err
		}
		entry := h.registryEntry(s)
		for _, room := range rooms[:min(len(rooms), h.cfg.MaxRooms)] {
			if s.MayJoin(room) && h.local.join(room, s) {
				if err := h.cfg.Registry.Join(ctx, room, entry); err != nil {
					return n, err
				}
				s.Subscribe(mailbox.RoomStream(room))
			}
		}
		h.missing.remove(s)
		s.CatchUpAll()
		n++
	}
	return n, nil
}
