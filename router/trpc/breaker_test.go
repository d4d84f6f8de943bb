package trpc

import (
	"testing"
	"time"

	"courier/router/testkit"
)

func TestBreakerStates(t *testing.T) {
	clock := testkit.NewClock()
	b := newBreaker(BreakerConfig{Failures: 2, OpenFor: time.Second}, clock.Now)
	fail := func() {
		if !b.allow() {
			t.Fatal("refused while closed")
		}
		b.done(false)
	}
	fail()
	if !b.allow() {
		t.Fatal("opened after 1 of 2 failures")
	}
	b.done(true) // a success resets the count
	fail()
	fail()
	if b.allow() {
		t.Fatal("still closed after 2 failures")
	}
	clock.Advance(time.Second)
	if !b.allow() {
		t.Fatal("no probe after OpenFor")
	}
	if b.allow() {
		t.Fatal("a second call while the probe is in flight")
	}
	b.done(false) // the probe failed: open again for OpenFor
	if b.allow() {
		t.Fatal("closed after a failed probe")
	}
	clock.Advance(time.Second)
	if !b.allow() {
		t.Fatal("no second probe")
	}
	b.release() // the caller gave up: the next call may probe
	if !b.allow() {
		t.Fatal("probe slot kept by a call that gave up")
	}
	b.done(true)
	if !b.allow() || !b.idle() {
		t.Fatal("not closed after a good probe")
	}
}

func TestBreakerDisabled(t *testing.T) {
	b := newBreaker(BreakerConfig{Failures: -1}, time.Now)
	for range 100 {
		if !b.allow() {
			t.Fatal("disabled breaker refused")
		}
		b.done(false)
	}
}
