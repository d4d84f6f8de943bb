// Package limit holds the node's bounds on what one client may take
// (SPEC, Limits): token buckets per key (handshakes per client IP or user
// agent, commands and joins per connection) and counts per key
// (connections per client IP). Both keep their memory bounded whatever
// keys an attacker makes up.
package limit

import (
	"sync"
	"time"
)

// Bucket is one token bucket: rate tokens a second up to burst. The zero
// value is unusable; make it with NewBucket. Not safe for concurrent use
// (a connection's events come one at a time); Rates is.
type Bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

// NewBucket starts full.
func NewBucket(rate, burst float64, now time.Time) Bucket {
	return Bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// Allow takes a token if one is there.
func (b *Bucket) Allow(now time.Time) bool {
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports a bucket that has refilled: forgetting it changes nothing.
func (b *Bucket) full(now time.Time) bool {
	return b.tokens+now.Sub(b.last).Seconds()*b.rate >= b.burst
}

// Rates is a token bucket per key, rate a second with a burst of twice
// that (SPEC). A rate of 0 allows everything. Buckets that refilled are
// swept every sweepEvery, and past maxKeys a new key is refused until the
// next sweep, so a flood of made-up keys costs bounded memory. Safe for
// concurrent use.
type Rates struct {
	rate, burst float64
	now         func() time.Time

	mu        sync.Mutex
	buckets   map[string]*Bucket
	lastSweep time.Time
}

const (
	sweepEvery = 10 * time.Second
	maxKeys    = 1 << 20
)

// NewRates limits each key to rate a second (0: no limit); now is the clock
// (nil: time.Now).
func NewRates(rate float64, now func() time.Time) *Rates {
	if now == nil {
		now = time.Now
	}
	return &Rates{rate: rate, burst: max(1, 2*rate), now: now, buckets: map[string]*Bucket{}, lastSweep: now()}
}

// Allow takes one of key's tokens.
func (r *Rates) Allow(key string) bool {
	if r == nil || r.rate <= 0 {
		return true
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.lastSweep) >= sweepEvery {
		for k, b := range r.buckets {
			if b.full(now) {
				delete(r.buckets, k)
			}
		}
		r.lastSweep = now
	}
	b := r.buckets[key]
	if b == nil {
		if len(r.buckets) >= maxKeys {
			return false
		}
		nb := NewBucket(r.rate, r.burst, now)
		b = &nb
		r.buckets[key] = b
	}
	return b.Allow(now)
}

// Keys is how many keys are held now (for tests and metrics).
func (r *Rates) Keys() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buckets)
}
