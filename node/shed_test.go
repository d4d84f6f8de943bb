package node

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"courier/node/auth"
	"courier/node/engine"
	"courier/node/engine/enginetest"
	"courier/router/arrival"
	"courier/router/registry"
	"courier/router/testkit"
)

// stuckArrival holds every arrival until released: a store that stopped
// answering in time.
type stuckArrival struct {
	arrival.Store
	release chan struct{}
}

func (a *stuckArrival) Arrive(ctx context.Context, s registry.Session, maxRooms int, reads []arrival.Read) (registry.Arrived, []arrival.Result, error) {
	select {
	case <-a.release:
	case <-ctx.Done():
	}
	return a.Store.Arrive(ctx, s, maxRooms, reads)
}

// A node whose store is slow refuses new clients at once, with 503 and
// Retry-After before any upgrade, or connect_error {code: 503} after it,
// instead of queueing them behind the store; once the store answers
// again, clients are taken.
func TestSlowStoreShedsNewHandshakes(t *testing.T) {
	const limit = 4
	slow := &stuckArrival{release: make(chan struct{})}
	n := newTestNodeOn(t, func(c *Config) { c.MaxConnecting = limit }, func(st *stores) {
		slow.Store = st.arrival
		st.arrival = slow
	})
	token, err := auth.Sign([]byte("s"), auth.Claims{Sub: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	hs := &engine.Handshake{Auth: map[string]any{"token": token}}
	for i := range limit { // handshakes stuck on the store
		go n.Connected(&enginetest.Conn{Id: "stuck" + string(rune('a'+i))}, accepted{claims: auth.Claims{Sub: "alice"}, device: "d"})
	}
	testkit.Eventually(t, 5*time.Second, "the store work under way", func() bool { return int(n.connecting.Load()) == limit })

	_, err = n.Authenticate(hs)
	var ce *engine.ConnectError
	if !errors.As(err, &ce) || ce.Data.(map[string]any)["code"] != 503 {
		t.Fatalf("handshake while the store is slow: %v, want connect_error 503", err)
	}
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=websocket", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("a new session before the upgrade: %d, Retry-After %q; want 503 with it", rec.Code, rec.Header().Get("Retry-After"))
	}
	if got := counterValue(n.metrics.refused.WithLabelValues("store_slow")); got != 2 {
		t.Fatalf("refusals counted %v, want 2", got)
	}

	close(slow.release)
	testkit.Eventually(t, 5*time.Second, "the store work done", func() bool { return n.connecting.Load() == 0 })
	if _, err := n.Authenticate(hs); err != nil {
		t.Fatalf("handshake with the store back: %v", err)
	}
}

// Many handshakes waiting on a store whose answers lately took over a
// second on average are refused as store_slow; as many waiting on a
// store that answers quickly (a burst it keeps up with) are taken, and so
// are a few on a slow one.
func TestSlowArrivalsShedOnlyWhenManyWait(t *testing.T) {
	n := newTestNode(t, nil)
	n.connecting.Store(minSlowWaiting)
	if why := n.overloaded(); why != "" {
		t.Fatalf("a burst on a quick store: overloaded %q", why)
	}
	for range 30 {
		n.arrivalTime.observe(5 * time.Second) // arrivals timing out
	}
	if why := n.overloaded(); why != "store_slow" {
		t.Fatalf("many waiting on a slow store: overloaded %q, want store_slow", why)
	}
	n.connecting.Store(minSlowWaiting - 1)
	if why := n.overloaded(); why != "" {
		t.Fatalf("a few waiting on a slow store: overloaded %q", why)
	}
	n.connecting.Store(minSlowWaiting)
	for range 40 {
		n.arrivalTime.observe(time.Millisecond) // the store is back
	}
	if why := n.overloaded(); why != "" {
		t.Fatalf("the store quick again: overloaded %q", why)
	}
}
