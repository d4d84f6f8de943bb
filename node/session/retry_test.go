package session

import (
	"testing"
	"time"
)

// Each failure in a row doubles the wait up to the cap, and the jitter
// keeps it in the upper half: sessions that failed together spread out.
func TestRetryAfterBacksOffWithJitter(t *testing.T) {
	for n, want := range map[uint8]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second,
		5: 16 * time.Second, 6: 30 * time.Second, 7: 30 * time.Second, 255: 30 * time.Second} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := retryAfter(n)
			if d < want/2 || d > want {
				t.Fatalf("failure %d: wait %v outside [%v, %v]", n, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 100 {
			t.Fatalf("failure %d: only %d distinct waits in 200: no jitter", n, len(seen))
		}
	}
}
