package mailboxtest

import (
	"testing"
	"time"

	"courier/router/mailbox"
	"courier/router/testkit"
)

// RunClaims runs the suite of mailbox.Claims against the implementation
// newClaims builds. Subtests run in parallel, each with its own store and
// clock.
func RunClaims(t *testing.T, newClaims ClaimsFactory) {
	t.Run("Claim", func(t *testing.T) {
		t.Parallel()
		testClaim(t, newClaims)
	})
}

func testClaim(t *testing.T, f ClaimsFactory) {
	clk := testkit.NewClock()
	c := f(t, mailbox.Config{Now: clk.Now})
	claim := func(key, id string, ttl time.Duration, want string) {
		t.Helper()
		got, err := c.Claim(t.Context(), key, id, ttl)
		if err != nil {
			t.Fatalf("Claim(%q, %q, %v): %v", key, id, ttl, err)
		}
		if got != want {
			t.Fatalf("Claim(%q, %q, %v) = %q; want %q", key, id, ttl, got, want)
		}
	}
	claim("k", "a", time.Minute, "a")
	claim("k", "b", time.Minute, "a")
	claim("k2", "b", time.Minute, "b")
	claim("{k}", "c", time.Minute, "c") // braces must not break a store's key hashing
	clk.Advance(59 * time.Second)
	claim("k", "b", time.Minute, "a")
	clk.Advance(time.Second) // ttl passed: the key is free again
	claim("k", "b", time.Minute, "b")
	claim("k", "c", time.Minute, "b")
	// ttl <= 0 binds nothing.
	claim("k3", "x", 0, "x")
	claim("k3", "y", time.Minute, "y")
}
