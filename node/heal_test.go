package node

import (
	"context"
	"testing"
	"time"

	"courier/node/push"
	"courier/router/redistest"
	"courier/router/registry"
	"courier/router/testkit"
)

// The registry holding more sessions of this node than it serves is no
// loss: a session that just left is taken out of the hub before the
// registry. Healing then re-registered every session and read every stream
// again from the start (Resync), so what was in flight went out twice; on a
// node under a reconnect storm that was 13,000 sessions re-registered and
// 26,000 mailbox reads for nothing.
func TestHealingLeavesASurplusInTheRegistryAlone(t *testing.T) {
	redis := "redis://" + redistest.StartServer(t)
	n := newTestNode(t, func(c *Config) { c.Redis = redis; c.HealInterval = 20 * time.Millisecond })
	startLoops(t, n)
	alice := connect(t, n, "alice", "phone")
	doPush(t, n, push.Request{To: push.Target{Users: []string{"alice"}}, Event: "news", TTL: ttl(60)})
	events(t, alice, "news", 1) // in flight: received, not acknowledged

	// a session that is leaving: gone from the hub, still in the registry
	stale := registry.Session{ID: "leaving", User: "bob", Device: "d", Node: n.cfg.NodeID, ConnectedAt: time.Now()}
	if err := n.stores.registry.Add(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * n.cfg.HealInterval) // healing must do nothing: no condition to poll for
	if got := len(alice.EmitsOf("news")); got != 1 {
		t.Fatalf("the message in flight was sent %d times", got)
	}

	// a real loss (the store forgot alice's session) is still healed, and
	// the message goes out again: it may have been pushed meanwhile
	for _, gone := range []registry.Session{stale, {ID: alice.ID(), User: "alice", Node: n.cfg.NodeID}} {
		if err := n.stores.registry.Remove(context.Background(), gone); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 5*time.Second, "alice registered again", func() bool {
		s, err := n.stores.registry.UserSessions(context.Background(), "alice")
		return err == nil && len(s) == 1
	})
	events(t, alice, "news", 2)
}
