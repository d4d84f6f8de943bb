package node

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"courier/node/engine/enginetest"
	"courier/node/peers"
	"courier/node/push"
	"courier/node/session"
	"courier/router/cluster"
	"courier/router/redistest"
	"courier/router/testkit"
)

// fastGossip detects a dead node in well under a second.
func fastGossip() cluster.Tuning {
	return cluster.Tuning{
		ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 80 * time.Millisecond,
		GossipInterval: 20 * time.Millisecond, PushPullInterval: 500 * time.Millisecond,
		SuspicionMult: 3, SuspicionMaxTimeoutMult: 2, TCPTimeout: time.Second,
		GossipToTheDead: 2 * time.Second, RejoinMin: 50 * time.Millisecond, RejoinMax: 300 * time.Millisecond,
	}
}

type testCluster struct {
	t     *testing.T
	redis string
	nodes []*Node
	part  *cluster.Partitioner
	seed  string
	// gossip is each node's gossip address, the name the partitioner knows it by.
	gossip map[*Node]string
	tune   func(*Config) // applied to each node's config before it starts (nil: none)
}

// startCluster serves n real nodes on 127.0.0.1 port 0 over one real
// redis-server, gossiping through cuttable transports, and waits until each
// sees the others alive.
func startCluster(t *testing.T, count int) *testCluster {
	t.Helper()
	return startClusterTuned(t, count, nil)
}

// startClusterTuned is startCluster with tune applied to each node's config.
func startClusterTuned(t *testing.T, count int, tune func(*Config)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, redis: "redis://" + redistest.StartServer(t), part: cluster.NewPartitioner(), gossip: map[*Node]string{}, tune: tune}
	for i := 0; i < count; i++ {
		tc.add(fmt.Sprintf("n%d", i+1))
	}
	tc.waitMembers(count)
	return tc
}

func (tc *testCluster) add(id string) *Node {
	t := tc.t
	t.Helper()
	tr, err := cluster.NewPartitionableTransport(tc.part, "127.0.0.1:0", testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Listen: "127.0.0.1:0", NodeID: id, APIKeys: []string{"k"}, JWTSecret: "s",
		Redis: tc.redis, ClusterSecret: "cluster-secret", PeerListen: "127.0.0.1:0",
		GossipTransport: tr, GossipTuning: fastGossip(), AckTimeout: 300 * time.Millisecond,
		HealInterval: 200 * time.Millisecond,
	}
	if tc.tune != nil {
		tc.tune(&cfg)
	}
	if tc.seed != "" {
		cfg.Join = []string{tc.seed}
	} else {
		tc.seed = tr.Addr()
	}
	cfg.PeerDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if tc.part.Blocked(tr.Addr(), tc.gossipOfPeer(addr)) {
			return nil, fmt.Errorf("partitioned from %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	n, err := New(cfg, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- n.Serve(ln) }()
	testkit.Eventually(t, 5*time.Second, id+" serving", func() bool { return n.peers.Enabled() || len(served) > 0 })
	if len(served) > 0 {
		t.Fatalf("%s: %v", id, <-served)
	}
	tc.gossip[n] = tr.Addr()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	tc.nodes = append(tc.nodes, n)
	return n
}

// gossipOfPeer maps a peer-link address to its node's gossip address, the
// name the partitioner knows it by.
func (tc *testCluster) gossipOfPeer(peerAddr string) string {
	for _, n := range tc.nodes {
		if n.peers.PeerAddr() == peerAddr {
			return tc.gossip[n]
		}
	}
	return ""
}

func (tc *testCluster) waitMembers(count int) {
	tc.t.Helper()
	for _, n := range tc.nodes {
		testkit.Eventually(tc.t, 5*time.Second, n.cfg.NodeID+" sees the cluster", func() bool { return len(n.peers.Others()) == count-1 })
	}
}

// crash stops a node without a goodbye: no leave, no purge of its sessions.
func (tc *testCluster) crash(n *Node) {
	n.draining.Store(true)
	n.peers.Halt()
	_ = n.server.Close()
	// A dead process frees what it held; a crashed node's Shutdown returns at
	// once (it is marked draining), so the test's end frees it, before its
	// Redis stops: left running, its loops would keep dialing a dead Redis
	// through the tests that follow.
	tc.t.Cleanup(func() { n.stopAll(context.Background()) })
}

func TestCrossNodeUserPushAndLookups(t *testing.T) {
	tc := startCluster(t, 3)
	n1, n2, n3 := tc.nodes[0], tc.nodes[1], tc.nodes[2]
	alice := connect(t, n1, "alice", "phone")
	id := doPush(t, n2, push.Request{To: push.Target{Users: []string{"alice"}}, Event: "news", TTL: ttl(60)})
	got := events(t, alice, "news", 1)
	if metaOf(got[0]).ID != id {
		t.Fatalf("meta %+v", metaOf(got[0]))
	}
	info, err := n3.User(context.Background(), "alice")
	if err != nil || len(info.Sessions) != 1 || info.Sessions[0].Node != "n1" || info.Pending != 1 {
		t.Fatalf("lookup from n3: %+v %v", info, err)
	}
	got[0].Ack(nil)
	testkit.Eventually(t, 5*time.Second, "ack seen cluster-wide", func() bool { i, _ := n2.User(context.Background(), "alice"); return i.Pending == 0 })
	// the same device on another node: the acknowledged message is not sent again
	elsewhere := connect(t, n2, "alice", "phone")
	later := doPush(t, n3, push.Request{To: push.Target{Users: []string{"alice"}}, Event: "news", TTL: ttl(60)})
	if first := metaOf(events(t, elsewhere, "news", 1)[0]); first.ID != later {
		t.Fatalf("on n2 the device first got %s, the message it acknowledged on n1 (%s)", first.ID, id)
	}
	elsewhere.Close("transport close")

	// n2 unregisters the closed session with its next batch of departures.
	var c peers.ClusterInfo
	testkit.Eventually(t, 5*time.Second, "cluster view: alice's session on n1 alone", func() bool {
		var err error
		if c, err = n3.Cluster(context.Background()); err != nil || len(c.Nodes) != 3 {
			return false
		}
		for _, node := range c.Nodes {
			if node.State != "alive" || (node.ID == "n1") != (node.Sessions == 1) {
				return false
			}
		}
		return true
	})
	if k, err := n3.DisconnectUser(context.Background(), "alice"); err != nil || k != 1 {
		t.Fatalf("disconnect from n3: %d %v", k, err)
	}
	testkit.Eventually(t, 5*time.Second, "alice kicked on n1", func() bool { return alice.Kicked.Load() == 1 })
}

func TestRoomFanOutIsOneEnvelopePerNode(t *testing.T) {
	tc := startCluster(t, 3)
	n1, n2, n3 := tc.nodes[0], tc.nodes[1], tc.nodes[2]
	var members []*enginetest.Conn
	for i := 0; i < 4; i++ {
		members = append(members, connect(t, n1, fmt.Sprintf("u%d", i), "d"), connect(t, n3, fmt.Sprintf("v%d", i), "d"))
	}
	if err := n2.JoinRoom(context.Background(), "r", []string{"u0", "u1", "u2", "u3", "v0", "v1", "v2", "v3"}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "8 members", func() bool { info, _ := n2.Room(context.Background(), "r"); return info.Members == 8 })
	before := n2.peers.LinkStats().SentEnvelopes
	doPush(t, n2, push.Request{To: push.Target{Rooms: []string{"r"}}, Event: "tick", TTL: ttl(60)})
	for _, m := range members {
		events(t, m, "tick", 1)
	}
	if sent := n2.peers.LinkStats().SentEnvelopes - before; sent != 2 {
		t.Fatalf("room push to 8 members on 2 nodes sent %d envelopes, want 2", sent)
	}
	rec := httptest.NewRecorder()
	n2.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "courier_peer_envelopes_sent_total") || !strings.Contains(rec.Body.String(), "courier_peer_links_up 2") {
		t.Fatal("/metrics lacks the peer link counters")
	}
}

func TestDeadNodeIsPurgedAndItsClientsReplayElsewhere(t *testing.T) {
	tc := startCluster(t, 3)
	n1, n2, n3 := tc.nodes[0], tc.nodes[1], tc.nodes[2]
	alice := connect(t, n1, "alice", "phone")
	id := doPush(t, n2, push.Request{To: push.Target{Users: []string{"alice"}}, Event: "news", TTL: ttl(60)})
	events(t, alice, "news", 1) // received, not acknowledged
	tc.crash(n1)
	testkit.Eventually(t, 5*time.Second, "n1 purged", func() bool {
		info, err := n3.User(context.Background(), "alice")
		return err == nil && len(info.Sessions) == 0
	})
	purges := counterValue(n2.metrics.purges) + counterValue(n3.metrics.purges)
	if purges > 1 {
		t.Fatalf("n1 purged %v times", purges)
	}
	again := connect(t, n3, "alice", "phone") // the client reconnects elsewhere
	if m := metaOf(events(t, again, "news", 1)[0]); m.ID != id {
		t.Fatalf("replayed %+v, want id %s", m, id)
	}
}

func TestPartitionedNodeRejoinsAndLosesNothing(t *testing.T) {
	tc := startCluster(t, 3)
	n1, n2 := tc.nodes[0], tc.nodes[1]
	alice := connect(t, n1, "alice", "phone")
	g1, g2, g3 := tc.gossip[n1], tc.gossip[n2], tc.gossip[tc.nodes[2]]
	tc.part.Cut(g1, g2, g3)
	testkit.Eventually(t, 5*time.Second, "n1 declared dead by n2", func() bool { return len(n2.peers.Others()) == 1 })

	var ids []string
	for i := 0; i < 5; i++ { // pushed while n1 is unreachable: stored, not delivered live
		ids = append(ids, doPush(t, n2, push.Request{To: push.Target{Users: []string{"alice"}}, Event: "news", TTL: ttl(60)}))
	}
	tc.part.HealAll()
	tc.waitMembers(3)
	got := events(t, alice, "news", 5)
	for i, e := range got[:5] {
		if metaOf(e).ID != ids[i] {
			t.Fatalf("message %d is %s, want %s", i, metaOf(e).ID, ids[i])
		}
	}
	// and the registry knows alice is on n1 again
	testkit.Eventually(t, 5*time.Second, "alice registered again", func() bool {
		info, err := n2.User(context.Background(), "alice")
		return err == nil && len(info.Sessions) == 1 && info.Sessions[0].Node == "n1"
	})
}

// Guarantees 5 and 8 across nodes: two devices of one user on different
// nodes both get every message, in push order, though the publisher sends
// each push through another node (so the envelopes race over two links).
func TestTwoDevicesOnTwoNodesGetEveryPushInOrder(t *testing.T) {
	tc := startCluster(t, 3)
	phone := connect(t, tc.nodes[0], "alice", "phone")
	laptop := connect(t, tc.nodes[1], "alice", "laptop")
	const total = 200
	var ids []string
	for i := 0; i < total; i++ {
		via := tc.nodes[i%3]
		ids = append(ids, doPush(t, via, push.Request{To: push.Target{Users: []string{"alice"}}, Event: "n", TTL: ttl(60)}))
	}
	for _, dev := range []*enginetest.Conn{phone, laptop} {
		// play the SDK: ack everything as it comes, keep each id once, in arrival order
		var order []session.Meta
		seen := map[string]bool{}
		acked := 0
		testkit.Eventually(t, 5*time.Second, dev.Id+" got every message", func() bool {
			all := dev.EmitsOf("n")
			for _, e := range all[acked:] {
				e.Ack(nil)
				if m := metaOf(e); !seen[m.ID] {
					seen[m.ID] = true
					order = append(order, m)
				}
			}
			acked = len(all)
			return len(order) >= total
		})
		for i, m := range order {
			if m.ID != ids[i] || m.Seq != uint64(i+1) {
				t.Fatalf("%s: message %d is %+v, want id %s seq %d", dev.Id, i, m, ids[i], i+1)
			}
		}
	}
	// each device's acknowledgements are its own: all acked now, nothing pending
	testkit.Eventually(t, 5*time.Second, "pending 0", func() bool { i, _ := tc.nodes[2].User(context.Background(), "alice"); return i.Pending == 0 })
}
