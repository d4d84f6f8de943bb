package api

import (
	"strconv"
	"sync"
	"time"
)

func itoa(n int) string { return strconv.Itoa(n) }

// keyLimiter is a token bucket per API key; a burst of one second's worth
// absorbs the natural clumping of a business server's calls.
type keyLimiter struct {
	rate float64
	now  func() time.Time
	mu   sync.Mutex
	keys map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newKeyLimiter(rate float64, now func() time.Time) *keyLimiter {
	return &keyLimiter{rate: rate, now: now, keys: make(map[string]*bucket)}
}

func (l *keyLimiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.keys[key]
	// A bucket holds at least one token, so a rate below 1/s still lets a
	// call through every 1/rate seconds.
	burst := max(1, l.rate)
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		l.keys[key] = b
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
