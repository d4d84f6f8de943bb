// Package testkit is shared test support for node/ and router/ tests: one
// way to wait for a condition (Eventually), one test logger (Logger) and one
// clock moved by hand (Clock).
//
// Import it only from _test.go files and from test-support packages (the
// contract suites such as router/mailbox/mailboxtest); production code never
// depends on it.
package testkit

import (
	"testing"
	"time"
)

// maxPoll bounds the sleep between two checks of Eventually: the waits it
// replaced polled every 2 to 5 ms, and some run inside a benchmark's timer.
const maxPoll = 10 * time.Millisecond

// Eventually checks cond until it returns true, and fails the test with
// t.Fatalf, naming what and the time waited, once within has passed. cond is
// checked one last time at the deadline, so a condition that comes true just
// then still passes. Between checks it sleeps 1 ms at first, doubling up to
// 10 ms: quick for what holds almost at once, light on a loaded machine for
// what takes seconds.
//
// Call it only from the goroutine running the test or benchmark, as
// t.Fatalf requires (it stops the calling goroutine); cond runs on that
// goroutine too and must not block.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, maxPoll) {
		if !time.Now().Before(deadline) {
			t.Fatalf("timed out after %v waiting for %s", time.Since(start).Round(time.Millisecond), what)
		}
		time.Sleep(min(wait, time.Until(deadline)))
	}
}
