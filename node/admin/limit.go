package admin

import (
	"math"
	"strconv"
	"sync"
	"time"
)

// failedLogins bounds wrong keys per node: a bucket of burst attempts that
// refills at rate per second. Each login takes an attempt before its key is
// compared and a right key gives it back, so logins under way at once
// cannot overdraw the bucket; while it is empty every login is refused
// unchecked (the right key too), which caps how fast keys can be tried.
type failedLogins struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newFailedLogins(rate float64, now func() time.Time) *failedLogins {
	return &failedLogins{rate: rate, burst: rate, now: now, tokens: rate, last: now()}
}

// take takes one attempt and returns 0, or, with the bucket empty, takes
// nothing and returns how long until an attempt is free.
func (l *failedLogins) take() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if elapsed := now.Sub(l.last).Seconds(); elapsed > 0 {
		l.tokens = math.Min(l.burst, l.tokens+elapsed*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
	}
	l.tokens--
	return 0
}

// giveBack returns the attempt of a login whose key was right.
func (l *failedLogins) giveBack() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens = math.Min(l.burst, l.tokens+1)
}

func itoa(n int) string { return strconv.Itoa(n) }
