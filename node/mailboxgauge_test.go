package node

import (
	"strings"
	"testing"
	"time"

	"courier/node/push"
	"courier/router/redistest"
	"courier/router/testkit"
)

// courier_mailbox_messages on Redis: one node counts every stream's
// unexpired messages, and reports the count while it is fresh.
func TestMailboxMessagesOnRedis(t *testing.T) {
	n := newTestNode(t, func(c *Config) {
		c.Redis = "redis://" + redistest.StartServer(t)
		c.MailboxCountInterval = 100 * time.Millisecond
	})
	serve(t, n)
	doPush(t, n, push.Request{To: push.Target{Users: []string{"a", "b"}}, Event: "e", TTL: ttl(60)})
	doPush(t, n, push.Request{To: push.Target{Rooms: []string{"lobby"}}, Event: "e", TTL: ttl(60)})
	doPush(t, n, push.Request{To: push.Target{Users: []string{"a"}}, Event: "gone", TTL: ttl(0.2)})
	gauge := func() string {
		mfs, err := n.metrics.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "courier_mailbox_messages" {
				return mf.String()
			}
		}
		return ""
	}
	testkit.Eventually(t, 5*time.Second, "courier_mailbox_messages = 3 (the short one expired)", func() bool {
		return strings.Contains(gauge(), "gauge:{value:3}")
	})
}

// Of two nodes, the one with the smaller id counts.
func TestOneNodeCountsTheMailbox(t *testing.T) {
	tc := startCluster(t, 2)
	if !tc.nodes[0].countsMailbox() || tc.nodes[1].countsMailbox() {
		t.Fatalf("counting: n1 %v, n2 %v; want n1 alone", tc.nodes[0].countsMailbox(), tc.nodes[1].countsMailbox())
	}
}
