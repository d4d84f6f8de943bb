package testkit

import (
	"sync"
	"time"
)

// Clock is a clock moved only by Advance, for code that takes a
// func() time.Time. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at the current time, truncated to milliseconds (the
// stores' resolution), so expiry edges are exact.
func NewClock() *Clock { return ClockAt(time.UnixMilli(time.Now().UnixMilli())) }

// ClockAt starts at t.
func ClockAt(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time; it moves only when Advance is called.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
