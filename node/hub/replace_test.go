package hub

import (
	"context"
	"slices"
	"testing"
	"time"

	"courier/router/forward"
	"courier/router/registry"
	"courier/router/testkit"
)

// Past --max-sessions-per-user an arrival closes the user's oldest
// sessions as "replaced": here with a socket.io DISCONNECT (so the client
// does not come back and replace the newer one), on another node through
// its link; the newest stay.
func TestOldestSessionsPastThePerUserBoundAreReplaced(t *testing.T) {
	peers := &fakePeers{others: []string{"n2"}}
	f := newFixture(t, peers)
	f.hub.cfg.MaxSessionsPerUser = 2
	// The oldest of alice's sessions is on n2.
	far := registry.Session{ID: "far", User: "alice", Device: "tv", Node: "n2", ConnectedAt: time.Now().Add(-time.Hour)}
	if err := f.reg.Add(context.Background(), far); err != nil {
		t.Fatal(err)
	}
	_, c1 := f.connect(t, "alice", "d1")
	time.Sleep(2 * time.Millisecond)
	_, c2 := f.connect(t, "alice", "d2") // 3 sessions: "far" goes
	testkit.Eventually(t, 5*time.Second, "the replace sent to n2", func() bool {
		sent := peers.sentTo("n2")
		return len(sent) == 1 && sent[0].Kind == forward.KindReplace && sent[0].User == "alice" && slices.Equal(sent[0].Users, []string{"far"})
	})
	if c1.Kicked.Load()+c2.Kicked.Load() != 0 {
		t.Fatal("a session here was closed while the oldest was on n2")
	}
	// n2 is gone from the registry's view once it closed it; now d1 is the oldest.
	_ = f.reg.Remove(context.Background(), far)
	time.Sleep(2 * time.Millisecond)
	_, c3 := f.connect(t, "alice", "d3")
	testkit.Eventually(t, 5*time.Second, "d1 replaced", func() bool { return c1.Kicked.Load() == 1 })
	got := c1.EmitsOf("courier:disconnect")
	if len(got) != 1 || got[0].Args[0].(map[string]string)["reason"] != "replaced" {
		t.Fatalf("d1's goodbye %v", got)
	}
	time.Sleep(50 * time.Millisecond)
	if c2.Kicked.Load() != 0 || c3.Kicked.Load() != 0 {
		t.Fatal("a newer session was closed")
	}

	// A replace from a peer closes the named sessions here, and no other.
	f.hub.HandleEnvelopes(context.Background(), "n2", []forward.Envelope{{Kind: forward.KindReplace, User: "alice", Users: []string{c2.ID(), "unknown"}}})
	if c2.Kicked.Load() != 1 || c3.Kicked.Load() != 0 {
		t.Fatalf("after a peer's replace of d2: d2 kicked %d, d3 kicked %d", c2.Kicked.Load(), c3.Kicked.Load())
	}
}
