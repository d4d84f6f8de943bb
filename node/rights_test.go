package node

import (
	"context"
	"testing"
	"time"

	"courier/node/push"
	"courier/router/redistest"
	"courier/router/testkit"
)

// Rights end with their grant (issue 13, SPEC Limits), on a real Redis: a
// device that was in "vip" comes back with a token that no longer allows it
// and is put back only into the rooms it still may join, receiving nothing
// from "vip"; and the restore does not re-arm the memory of the device's
// rooms, so they are forgotten when their time is up.
func TestReconnectKeepsOnlyAllowedRoomsAndNeverExtendsTheirMemory(t *testing.T) {
	redis := redistest.StartServer(t)
	n := newTestNode(t, func(c *Config) { c.Redis = "redis://" + redis })
	ctx := context.Background()
	c := connect(t, n, "alice", "d1", "*")
	for _, room := range []string{"vip", "game:1"} {
		if ack := c.Event("join", map[string]any{"room": room}); ack[0].(map[string]any)["ok"] != true {
			t.Fatalf("join %s acked %v", room, ack)
		}
	}
	keys, err := n.stores.redis.Keys(ctx, "*d:d1").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the device's rooms key: %v %v", keys, err)
	}
	before, err := n.stores.redis.PTTL(ctx, keys[0]).Result()
	if err != nil || before <= 0 {
		t.Fatalf("the device's rooms have no time limit: %v %v", before, err)
	}
	c.Close("transport close")
	n.hub.AwaitDepartures(ctx)
	time.Sleep(1100 * time.Millisecond)

	again := connect(t, n, "alice", "d1", "game:*")
	testkit.Eventually(t, 5*time.Second, "back in game:1", func() bool {
		info, _ := n.Room(ctx, "game:1")
		return info.Members == 1
	})
	if info, _ := n.Room(ctx, "vip"); info.Members != 0 {
		t.Fatalf("put back into vip, which its token no longer allows: %+v", info)
	}
	doPush(t, n, push.Request{To: push.Target{Rooms: []string{"vip"}}, Event: "vip-news", TTL: ttl(60)})
	doPush(t, n, push.Request{To: push.Target{Rooms: []string{"game:1"}}, Event: "score", TTL: ttl(60)})
	events(t, again, "score", 1)
	time.Sleep(300 * time.Millisecond)
	if got := again.EmitsOf("vip-news"); len(got) != 0 {
		t.Fatalf("received %d vip messages after its right ended", len(got))
	}
	after, err := n.stores.redis.PTTL(ctx, keys[0]).Result()
	if err != nil || after > before-time.Second {
		t.Fatalf("the restore re-armed the rooms' memory: %v before, %v after 1.1 s (%v)", before, after, err)
	}
}
