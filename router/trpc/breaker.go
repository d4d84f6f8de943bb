package trpc

import (
	"sync"
	"time"
)

// BreakerConfig sets the circuit breaker of a target: after Failures
// consecutive failed calls (unreachable or timed out; a tRPC error response
// is an answer, not a failure) the breaker opens and calls fail fast with ErrBreakerOpen for OpenFor; then one probe
// call goes through (half-open): its success closes the breaker, its failure
// opens it again.
type BreakerConfig struct {
	Failures int           // default 5; < 0 disables the breaker
	OpenFor  time.Duration // default 5s
}

func (c *BreakerConfig) defaults() {
	if c.Failures == 0 {
		c.Failures = 5
	}
	if c.OpenFor <= 0 {
		c.OpenFor = 5 * time.Second
	}
}

type breakerState int

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

// breaker is one address's circuit breaker. Safe for concurrent use.
type breaker struct {
	cfg BreakerConfig
	now func() time.Time

	mu       sync.Mutex
	state    breakerState
	failures int
	until    time.Time // end of the open period
	probing  bool      // half-open: the probe is in flight
}

func newBreaker(cfg BreakerConfig, now func() time.Time) *breaker {
	return &breaker{cfg: cfg, now: now}
}

// allow reports whether a call may go; a true answer obliges the caller to
// report the outcome with done.
func (b *breaker) allow() bool {
	if b.cfg.Failures < 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerOpen:
		if b.now().Before(b.until) {
			return false
		}
		b.state = breakerHalfOpen
		b.probing = true
		return true
	case breakerHalfOpen:
		if b.probing {
			return false
		}
		b.probing = true
		return true
	}
	return true
}

// done records the outcome of an allowed call.
func (b *breaker) done(ok bool) {
	if b.cfg.Failures < 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.state, b.failures, b.probing = breakerClosed, 0, false
		return
	}
	b.failures++
	if b.state == breakerHalfOpen || b.failures >= b.cfg.Failures {
		b.state, b.probing = breakerOpen, false
		b.until = b.now().Add(b.cfg.OpenFor)
	}
}

// release gives back an allowed call that ended with no verdict on the
// backend (the caller gave up): a half-open probe slot must not stay taken.
func (b *breaker) release() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// idle reports whether the breaker holds nothing worth keeping, so its
// address may be forgotten.
func (b *breaker) idle() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state == breakerClosed && b.failures == 0
}
