package node

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"courier/node/engine/enginetest"
	"courier/router/testkit"
)

func readyz(n *Node) int {
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec.Code
}

// A draining node first only stops being ready, so that a balancer stops
// sending it clients, and then tells its clients to go over the spread,
// not all at once: the others take the reconnects over time.
func TestDrainWaitsThenSpreadsTheGoodbyes(t *testing.T) {
	const delay, spread, clients = 300 * time.Millisecond, 600 * time.Millisecond, 20
	n := newTestNode(t, func(c *Config) { c.DrainDelay, c.DrainSpread = delay, spread })
	var conns []*enginetest.Conn
	for range clients {
		conns = append(conns, connect(t, n, "alice", "d"))
	}
	if code := readyz(n); code != http.StatusOK {
		t.Fatalf("/readyz %d before the drain", code)
	}

	var mu sync.Mutex
	closedAt := map[*enginetest.Conn]time.Duration{}
	start := time.Now()
	stopWatch := make(chan struct{})
	go func() { // note when each client is told to go
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(2 * time.Millisecond):
			}
			mu.Lock()
			for _, c := range conns {
				if _, seen := closedAt[c]; !seen && c.TransportsClosed.Load() > 0 {
					closedAt[c] = time.Since(start)
				}
			}
			mu.Unlock()
		}
	}()
	defer close(stopWatch)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	}()
	testkit.Eventually(t, time.Second, "/readyz 503 at once", func() bool { return readyz(n) == http.StatusServiceUnavailable })
	testkit.Eventually(t, 5*time.Second, "every client told to go", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(closedAt) == clients
	})
	mu.Lock()
	defer mu.Unlock()
	first, last := time.Hour, time.Duration(0)
	for _, at := range closedAt {
		first, last = min(first, at), max(last, at)
	}
	if first < delay {
		t.Fatalf("the first client was told to go after %v, before the drain delay %v", first, delay)
	}
	if last-first < spread/2 {
		t.Fatalf("goodbyes from %v to %v: not spread over %v", first, last, spread)
	}
	t.Logf("goodbyes from %v to %v", first, last)
}

// Delay and spread shrink in proportion to fit the shutdown deadline,
// keeping time for the rest of the drain.
func TestDrainFitsTheShutdownTimeout(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.DrainDelay, c.DrainSpread = 5*time.Second, 10*time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), drainGrace+time.Second+3*time.Second)
	defer cancel()
	delay, spread := n.drainTimes(ctx)
	if delay+spread > 3*time.Second || delay < 900*time.Millisecond || delay > time.Second || spread < 1900*time.Millisecond {
		t.Fatalf("delay %v, spread %v: want about 1s and 2s", delay, spread)
	}
	if delay, spread := n.drainTimes(context.Background()); delay != 5*time.Second || spread != 10*time.Second {
		t.Fatalf("without a deadline: %v %v", delay, spread)
	}
}
