package command

import (
	"strconv"
	"sync"
	"time"

	"courier/node/errcode"
	"courier/node/limit"
)

// routeLimit is a route's outbound bound: calls a second and calls in
// flight. A call over either fails at once: a slow or small backend must
// not make calls queue in the node without bound.
type routeLimit struct {
	pattern     string
	concurrency int

	mu       sync.Mutex
	rate     *limit.Bucket // nil: no rate
	inFlight int
}

func newRouteLimit(rt Route, now time.Time) *routeLimit {
	l := &routeLimit{pattern: rt.Pattern, concurrency: rt.Concurrency}
	if rt.Rate > 0 {
		b := limit.NewBucket(rt.Rate, max(1, rt.Rate), now)
		l.rate = &b
	}
	return l
}

// take admits one call (release it with done) or refuses it.
func (l *routeLimit) take(now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.concurrency > 0 && l.inFlight >= l.concurrency {
		return &Error{Code: errcode.RateLimited, Message: "route " + l.pattern + " has " + strconv.Itoa(l.concurrency) + " calls in flight, its concurrency; retry later"}
	}
	if l.rate != nil && !l.rate.Allow(now) {
		return &Error{Code: errcode.RateLimited, Message: "route " + l.pattern + " is over its rate; retry later"}
	}
	l.inFlight++
	return nil
}

func (l *routeLimit) done() {
	l.mu.Lock()
	l.inFlight--
	l.mu.Unlock()
}
