package opsbus

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// watchers are this node's Watch channels, by user. Safe for concurrent use.
type watchers struct {
	mu     sync.Mutex
	byUser map[string]map[chan Event]struct{}
	closed bool
	lost   *atomic.Uint64 // events a full channel could not take
}

func newWatchers(lost *atomic.Uint64) *watchers {
	return &watchers{byUser: make(map[string]map[chan Event]struct{}), lost: lost}
}

// add opens a channel for user; first says it is the node's only watcher
// of user. It fails once the bus closed.
func (w *watchers) add(user string) (ch chan Event, first bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, false, ErrClosed
	}
	set := w.byUser[user]
	if set == nil {
		set = make(map[chan Event]struct{})
		w.byUser[user] = set
	}
	ch = make(chan Event, watchBuffer)
	set[ch] = struct{}{}
	return ch, len(set) == 1, nil
}

// remove closes ch; last says no watcher of user is left on this node.
func (w *watchers) remove(user string, ch chan Event) (last bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	set := w.byUser[user]
	if _, ok := set[ch]; !ok {
		return false // closed by closeAll
	}
	delete(set, ch)
	close(ch)
	if len(set) == 0 {
		delete(w.byUser, user)
		return true
	}
	return false
}

// until removes ch when ctx ends, then calls gone if it was the last.
func (w *watchers) until(ctx context.Context, user string, ch chan Event, gone func()) {
	go func() {
		<-ctx.Done()
		if w.remove(user, ch) && gone != nil {
			gone()
		}
	}()
}

// deliver hands ev to the node's watchers of ev.User without blocking.
func (w *watchers) deliver(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.byUser[ev.User] {
		select {
		case ch <- ev:
		default:
			w.lost.Add(1)
		}
	}
}

// users lists the users watched on this node.
func (w *watchers) users() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.byUser))
	for u := range w.byUser {
		out = append(out, u)
	}
	return out
}

// closeAll closes every channel; later adds fail.
func (w *watchers) closeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for u, set := range w.byUser {
		for ch := range set {
			close(ch)
		}
		delete(w.byUser, u)
	}
}

// tracedSet is the users watched anywhere, read on the delivery path.
type tracedSet struct {
	p atomic.Pointer[map[string]struct{}]
}

func (t *tracedSet) has(user string) bool {
	m := t.p.Load()
	if m == nil || len(*m) == 0 {
		return false
	}
	_, ok := (*m)[user]
	return ok
}

func (t *tracedSet) set(users []string) {
	m := make(map[string]struct{}, len(users))
	for _, u := range users {
		m[u] = struct{}{}
	}
	t.p.Store(&m)
}

// records are trace records kept in memory, for Memory.
type records struct {
	mu    sync.Mutex
	byID  map[string]*record
	order []string // ids by first event, for expiry
}

type record struct {
	events []Event
	at     int64 // unix ns of the first event
}

// maxRecords bounds the trace ids Memory keeps; the oldest go first.
const maxRecords = 100_000

func (r *records) add(ev Event, now, keep int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID == nil {
		r.byID = make(map[string]*record)
	}
	r.expire(now, keep)
	rec := r.byID[ev.TraceID]
	if rec == nil {
		if len(r.order) >= maxRecords {
			delete(r.byID, r.order[0])
			r.order = r.order[1:]
		}
		rec = &record{at: now}
		r.byID[ev.TraceID] = rec
		r.order = append(r.order, ev.TraceID)
	}
	if len(rec.events) == maxTraceEvents {
		rec.events = append(rec.events[:0], rec.events[1:]...)
	}
	rec.events = append(rec.events, ev)
}

func (r *records) expire(now, keep int64) {
	n := 0
	for n < len(r.order) && now-r.byID[r.order[n]].at >= keep {
		delete(r.byID, r.order[n])
		n++
	}
	if n > 0 {
		r.order = append(r.order[:0], r.order[n:]...)
	}
}

func (r *records) get(id string, now, keep int64) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now, keep)
	if rec := r.byID[id]; rec != nil {
		return append([]Event(nil), rec.events...)
	}
	return nil
}

// byTime orders events of several nodes by their time; each node's writer
// keeps its own order, not the others'.
func byTime(evs []Event) []Event {
	slices.SortStableFunc(evs, func(a, b Event) int { return a.TS.Compare(b.TS) })
	return evs
}

// settingHook is what takes settings (Bus.OnSetting).
type settingHook struct{ fn atomic.Pointer[func(Setting)] }

func (h *settingHook) set(fn func(Setting)) { h.fn.Store(&fn) }

func (h *settingHook) call(s Setting) {
	if fn := h.fn.Load(); fn != nil && *fn != nil {
		(*fn)(s)
	}
}

// stamp fills what Publish fills in an event that lacks it: the node and
// the time.
func stamp(ev *Event, cfg Config) {
	if ev.Node == "" {
		ev.Node = cfg.Node
	}
	if ev.TS.IsZero() {
		ev.TS = cfg.Now()
	}
}
