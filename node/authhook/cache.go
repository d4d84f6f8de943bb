package authhook

import (
	"sync"
	"time"
)

// cache keeps accepting answers until their expires_in. Past max entries
// the expired go first, then the ones that end soonest are dropped by a
// sweep of the whole map (rare: max is large).
type cache struct {
	max int

	mu sync.Mutex
	m  map[[32]byte]cached
}

type cached struct {
	a   Answer
	end time.Time
}

func newCache(max int) *cache { return &cache{max: max, m: map[[32]byte]cached{}} }

func (c *cache) get(k [32]byte, now time.Time) (Answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return Answer{}, false
	}
	if !now.Before(e.end) {
		delete(c.m, k)
		return Answer{}, false
	}
	// the session gets only what is left of the answer's life
	e.a.ExpiresIn = e.end.Sub(now).Seconds()
	return e.a, true
}

func (c *cache) put(k [32]byte, a Answer, now, end time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for key, e := range c.m {
			if !now.Before(e.end) {
				delete(c.m, key)
			}
		}
		for key := range c.m { // still full: drop any tenth
			if len(c.m) < c.max*9/10 {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = cached{a: a, end: end}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
