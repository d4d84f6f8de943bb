package limit

import "sync"

// Counts bounds how many of something each key holds at once (connections
// per client IP). A max of 0 allows any number. Keys at zero are dropped,
// so memory follows what is held. Safe for concurrent use.
type Counts struct {
	max int

	mu sync.Mutex
	n  map[string]int
}

// NewCounts bounds each key to max (0: no bound).
func NewCounts(max int) *Counts { return &Counts{max: max, n: map[string]int{}} }

// Full reports that key holds its maximum: a cheap check before the work
// that Add would count.
func (c *Counts) Full(key string) bool {
	if c.max <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key] >= c.max
}

// Add counts one more for key, unless it is full.
func (c *Counts) Add(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 && c.n[key] >= c.max {
		return false
	}
	c.n[key]++
	return true
}

// Done counts one fewer for key.
func (c *Counts) Done(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] <= 1 {
		delete(c.n, key)
		return
	}
	c.n[key]--
}

// Len is how many keys hold something.
func (c *Counts) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.n)
}
