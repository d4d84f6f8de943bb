package node

import (
	"testing"
	"time"

	"courier/node/push"
	"courier/router/testkit"
)

// A node that accepts a push for a user held by a node it has no peer link
// to (it has just started and not yet joined, the link is down or full)
// stores it, but cannot hand it over live. The holding node's session had
// already replayed its mailbox on connect, so without more it would get the
// message only at its next reconnect: the reconnect test under load lost
// pushes accepted by a restarted node in its first second this way.
func TestPushThroughANodeWithoutALinkReachesTheConnectedUser(t *testing.T) {
	tc := startCluster(t, 1)
	n1 := tc.nodes[0]
	alice := connect(t, n1, "alice", "phone")
	testkit.Eventually(t, 5*time.Second, "alice registered", func() bool {
		sessions, err := n1.stores.registry.UserSessions(t.Context(), "alice")
		return err == nil && len(sessions) == 1
	})

	// n2 shares the store but knows no other node: its seed never answers.
	seed := tc.seed
	tc.seed = "127.0.0.1:1"
	n2 := tc.add("n2")
	tc.seed = seed
	if len(n2.peers.Others()) != 0 || len(n1.peers.Others()) != 0 {
		t.Fatal("n2 joined the cluster; the test needs it alone")
	}

	id := doPush(t, n2, push.Request{To: push.Target{Users: []string{"alice"}}, Event: "news", TTL: ttl(60)})
	if m := metaOf(events(t, alice, "news", 1)[0]); m.ID != id {
		t.Fatalf("got %+v, want id %s", m, id)
	}
	if got := alice.EmitsOf("news"); len(got) != 1 {
		t.Fatalf("delivered %d times", len(got))
	}
}
