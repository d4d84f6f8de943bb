// Package lograte keeps a storm of one warning from flooding the log: an
// slog.Handler that lets through at most one record per kind (level and
// message) per interval, at Warn and above, and says on the next one let
// through how many like it it held back. A Redis outage under 150,000
// connections then logs a few lines a second, not one per failed call.
//
// Records below Warn pass untouched: Debug and Info are either off in
// production or are one line per event by design (the API's access log).
package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// SuppressedKey is the attribute that counts the records like this one
// held back since the last one let through.
const SuppressedKey = "suppressed"

// Handler limits the rate of each kind of warning. Make it with New; it is
// safe for concurrent use, and the handlers WithAttrs and WithGroup derive
// from it share its counts.
type Handler struct {
	next  slog.Handler
	state *state
}

type state struct {
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	kinds map[kind]*count
}

type kind struct {
	level slog.Level
	msg   string
}

type count struct {
	last       time.Time // when one was last let through
	suppressed int
}

// New wraps next: each kind of warning passes at most once per every.
// now is the clock (nil: time.Now).
func New(next slog.Handler, every time.Duration, now func() time.Time) *Handler {
	if now == nil {
		now = time.Now
	}
	return &Handler{next: next, state: &state{every: every, now: now, kinds: map[kind]*count{}}}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	held, pass := h.state.admit(kind{r.Level, r.Message})
	if !pass {
		return nil
	}
	if held > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int(SuppressedKey, held))
	}
	return h.next.Handle(ctx, r)
}

// admit reports whether a record of k passes now, and how many were held
// back before it.
func (s *state) admit(k kind) (held int, pass bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.kinds[k]
	if c == nil {
		s.kinds[k] = &count{last: now}
		return 0, true
	}
	if now.Sub(c.last) < s.every {
		c.suppressed++
		return 0, false
	}
	held, c.suppressed, c.last = c.suppressed, 0, now
	return held, true
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), state: h.state}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), state: h.state}
}
