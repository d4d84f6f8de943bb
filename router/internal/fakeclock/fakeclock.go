// Package fakeclock is a clock the contract suites move by hand.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New starts at the current time, truncated to milliseconds (the stores'
// resolution), so expiry edges are exact.
func New() *Clock { return &Clock{now: time.UnixMilli(time.Now().UnixMilli())} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// At starts at t.
func At(t time.Time) *Clock { return &Clock{now: t} }
