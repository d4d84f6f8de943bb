package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"courier/node/auth"
	"courier/node/engine/enginetest"
	"courier/node/errcode"
	"courier/node/push"
	"courier/node/session"
	"courier/router/testkit"
)

func newTestNode(t *testing.T, tune func(*Config)) *Node {
	t.Helper()
	return newTestNodeOn(t, tune, nil)
}

// newTestNodeOn is newTestNode with a chance to wrap the stores.
func newTestNodeOn(t *testing.T, tune func(*Config), wrap func(*stores)) *Node {
	t.Helper()
	return newTestNodeLogging(t, tune, wrap, testkit.Logger(t))
}

// newTestNodeLogging is newTestNodeOn logging to log.
func newTestNodeLogging(t *testing.T, tune func(*Config), wrap func(*stores), log *slog.Logger) *Node {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", NodeID: "n1", APIKeys: []string{"k"}, JWTSecret: "s"}
	if tune != nil {
		tune(&cfg)
	}
	cfg = cfg.WithDefaults()
	st, err := openStores(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		wrap(&st)
	}
	n, err := newNode(cfg, log, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

// startLoops starts the peers' loops (the registry healer) of a node that
// does not Serve; Shutdown stops them.
func startLoops(t *testing.T, n *Node) {
	t.Helper()
	if err := n.peers.Start(n.ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
}

// serve runs n on a loopback port and waits until its start-up is done;
// the test's cleanup shuts it down. It returns the port's address.
func serve(t *testing.T, n *Node) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- n.Serve(ln) }()
	testkit.Eventually(t, 5*time.Second, "start-up done", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.started.polls || len(served) > 0
	})
	if len(served) > 0 {
		t.Fatal(<-served)
	}
	return ln.Addr().String()
}

var connSeq int

// connect plays a client that passed authentication.
func connect(t *testing.T, n *Node, user, device string, rooms ...string) *enginetest.Conn {
	t.Helper()
	connSeq++
	c := &enginetest.Conn{Id: fmt.Sprintf("sid-%d", connSeq)}
	n.Connected(c, accepted{claims: auth.Claims{Sub: user, Rooms: rooms}, device: device})
	return c
}

func ttl(s float64) *float64 { return &s }

func doPush(t *testing.T, n *Node, req push.Request) string {
	t.Helper()
	res, err := n.Push(context.Background(), &req)
	if err != nil {
		t.Fatal(err)
	}
	return res.ID
}

// events waits for n deliveries of event and returns their metas.
func events(t *testing.T, c *enginetest.Conn, event string, n int) []enginetest.Emitted {
	t.Helper()
	var got []enginetest.Emitted
	testkit.Eventually(t, 5*time.Second, fmt.Sprintf("%s to get %d %q events", c.Id, n, event), func() bool {
		got = c.EmitsOf(event)
		return len(got) >= n
	})
	return got
}

func metaOf(e enginetest.Emitted) session.Meta { return e.Args[1].(session.Meta) }

func TestPushReachesOnlineUserOnlyAndAckClearsPending(t *testing.T) {
	n := newTestNode(t, nil)
	alice := connect(t, n, "alice", "phone")
	bob := connect(t, n, "bob", "phone")
	id := doPush(t, n, push.Request{To: push.Target{Users: []string{"alice"}}, Event: "news", Data: []byte(`{"x":1}`), TTL: ttl(60)})
	got := events(t, alice, "news", 1)
	if m := metaOf(got[0]); m.ID != id || m.Seq != 1 || m.Room != "" || time.Since(time.UnixMilli(m.TS)) > time.Minute {
		t.Fatalf("meta %+v", m)
	}
	info, _ := n.User(context.Background(), "alice")
	if info.Pending != 1 || len(info.Sessions) != 1 {
		t.Fatalf("before ack: %+v", info)
	}
	got[0].Ack(nil)
	testkit.Eventually(t, 5*time.Second, "pending 0", func() bool { info, _ := n.User(context.Background(), "alice"); return info.Pending == 0 })
	if len(bob.EmitsOf("news")) != 0 {
		t.Fatal("bob received alice's message")
	}
}

func TestPushValidation(t *testing.T) {
	n := newTestNode(t, nil)
	cases := map[string]push.Request{
		"no event":     {To: push.Target{Users: []string{"u"}}},
		"reserved":     {To: push.Target{Users: []string{"u"}}, Event: "connect"},
		"courier:":     {To: push.Target{Users: []string{"u"}}, Event: "courier:x"},
		"no target":    {Event: "e"},
		"all and user": {To: push.Target{All: true, Users: []string{"u"}}, Event: "e"},
		"empty user":   {To: push.Target{Users: []string{""}}, Event: "e"},
		"negative ttl": {To: push.Target{Users: []string{"u"}}, Event: "e", TTL: ttl(-1)},
		"huge ttl":     {To: push.Target{Users: []string{"u"}}, Event: "e", TTL: ttl(1e9)},
	}
	for name, req := range cases {
		_, err := n.Push(context.Background(), &req)
		var e *errcode.Error
		if !errors.As(err, &e) || e.Code.HTTPStatus() != 400 {
			t.Errorf("%s: err = %v, want a 400", name, err)
		}
	}
}

func TestIdempotentPushDeliversOnce(t *testing.T) {
	n := newTestNode(t, nil)
	c := connect(t, n, "alice", "d")
	req := push.Request{To: push.Target{Users: []string{"alice"}}, Event: "e", TTL: ttl(60), ID: "order-1"}
	first, second := doPush(t, n, req), doPush(t, n, req)
	if first != second {
		t.Fatalf("ids %s, %s", first, second)
	}
	events(t, c, "e", 1)
	time.Sleep(50 * time.Millisecond)
	if len(c.EmitsOf("e")) != 1 {
		t.Fatalf("delivered %d times", len(c.EmitsOf("e")))
	}
}

func TestRoomJoinRightsReplayAndRestore(t *testing.T) {
	n := newTestNode(t, nil)
	doPush(t, n, push.Request{To: push.Target{Rooms: []string{"game:1"}}, Event: "score", TTL: ttl(60)})
	c := connect(t, n, "alice", "d", "game:*")
	if ack := c.Event("join", map[string]any{"room": "lobby"}); ack[0].(map[string]any)["ok"] != false {
		t.Fatalf("join without right acked %v", ack)
	}
	if ack := c.Event("join", map[string]any{"room": "game:1"}); ack[0].(map[string]any)["ok"] != true {
		t.Fatalf("join acked %v", ack)
	}
	got := events(t, c, "score", 1) // replayed on join
	if metaOf(got[0]).Room != "game:1" {
		t.Fatalf("meta %+v", metaOf(got[0]))
	}
	if info, _ := n.Room(context.Background(), "game:1"); info.Members != 1 || len(info.Nodes) != 1 {
		t.Fatalf("room %+v", info)
	}
	c.Close("transport close")
	// the same device comes back: it is in the room again without asking
	again := connect(t, n, "alice", "d", "game:*")
	events(t, again, "score", 1) // not acked: replayed again
	doPush(t, n, push.Request{To: push.Target{Rooms: []string{"game:1"}}, Event: "score", TTL: ttl(60)})
	events(t, again, "score", 2)
}

func TestAPIRoomJoinAndDisconnect(t *testing.T) {
	n := newTestNode(t, nil)
	c := connect(t, n, "alice", "d")
	if err := n.JoinRoom(context.Background(), "vip", []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	doPush(t, n, push.Request{To: push.Target{Rooms: []string{"vip"}}, Event: "e", TTL: ttl(0)})
	if m := metaOf(events(t, c, "e", 1)[0]); m.Seq != 0 || m.Room != "vip" {
		t.Fatalf("fire-and-forget meta %+v", m)
	}
	if k, _ := n.DisconnectUser(context.Background(), "alice"); k != 1 || c.Kicked.Load() != 1 {
		t.Fatalf("disconnected %d, kicked %d", k, c.Kicked.Load())
	}
	if info, _ := n.Room(context.Background(), "vip"); info.Members != 0 {
		t.Fatalf("room after disconnect %+v", info)
	}
}

func TestShutdownTellsClientsToReconnect(t *testing.T) {
	n := newTestNode(t, nil)
	c := connect(t, n, "alice", "d")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if c.TransportsClosed.Load() != 1 || len(c.EmitsOf("courier:disconnect")) != 1 {
		t.Fatal("client not told to reconnect")
	}
	var ce interface{ Error() string }
	_, err := n.Authenticate(nil)
	if !errors.As(err, &ce) {
		t.Fatal("a draining node accepted a connection")
	}
}
