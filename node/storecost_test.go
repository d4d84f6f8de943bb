package node

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"courier/node/engine/enginetest"
	"courier/node/push"
	"courier/router/redistest"
	"courier/router/testkit"
)

// storeCost measures what a step costs Redis: round trips from the node,
// and commands executed by the server (INFO commandstats, the commands
// scripts run included).
type storeCost struct {
	t      *testing.T
	addr   string
	trips  *redistest.RoundTrips
	before map[string]int64
}

func (c *storeCost) start() {
	c.trips.Reset()
	c.before = redistest.CommandCalls(c.t, c.addr)
}

// stop returns the round trips and commands per step over steps, and the
// commands by name.
func (c *storeCost) stop(steps int) (trips, commands float64, by string) {
	after := redistest.CommandCalls(c.t, c.addr)
	total := int64(0)
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(after)) {
		n := after[name] - c.before[name]
		switch name {
		case "info", "hello", "client|setinfo", "client|maint_notifications":
			continue // the measurement's own, and new connections'
		}
		if n > 0 {
			total += n
			parts = append(parts, fmt.Sprintf("%s=%.1f", name, float64(n)/float64(steps)))
		}
	}
	return float64(c.trips.Count()) / float64(steps), float64(total) / float64(steps), strings.Join(parts, " ")
}

// What a connection costs Redis, measured against a real redis-server
// through the node's own arrival and removal (router/README.md, "Cost of a
// connection", has the figures): a connect at most 2 round trips and 12
// commands, a whole session's life at most 16.
func TestConnectionCostOnRedis(t *testing.T) {
	addr := redistest.StartServer(t)
	// the node's probe of the log of pushes to all (ZCOUNT, at most one a
	// second whatever the connects) is counted apart
	trips := &redistest.RoundTrips{Apart: "zcount"}
	n := newTestNodeOn(t, func(c *Config) { c.Redis = "redis://" + addr }, func(st *stores) { st.redis.AddHook(trips) })
	cost := &storeCost{t: t, addr: addr, trips: trips}
	const clients = 200
	connectAll := func(prefix string, rooms ...string) []*enginetest.Conn {
		conns := make([]*enginetest.Conn, clients)
		for i := range conns {
			conns[i] = connect(t, n, fmt.Sprintf("%s%d", prefix, i), "phone", rooms...)
		}
		return conns
	}
	closeAll := func(conns []*enginetest.Conn) {
		for _, c := range conns {
			c.Close("transport close")
		}
		testkit.Eventually(t, 5*time.Second, "all removed", func() bool { return n.hub.Count() == 0 })
		n.hub.AwaitDepartures(t.Context())
	}
	closeAll(connectAll("warm")) // loads the scripts

	// A client with nothing pending and no rooms: the common connect.
	cost.start()
	conns := connectAll("u")
	connTrips, connCmds, connBy := cost.stop(clients)
	t.Logf("connect: %.2f round trips, %.2f commands (%s)", connTrips, connCmds, connBy)
	cost.start()
	time.Sleep(2 * time.Second) // idle: what it costs is the point
	_, idleCmds, idleBy := cost.stop(clients)
	t.Logf("idle 2 s: %.2f commands (%s)", idleCmds, idleBy)
	cost.start()
	closeAll(conns)
	discTrips, discCmds, discBy := cost.stop(clients)
	t.Logf("disconnect: %.2f round trips, %.2f commands (%s)", discTrips, discCmds, discBy)
	if connTrips > 2 || connCmds > 12 {
		t.Errorf("a connect costs %.2f round trips and %.2f commands; want at most 2 and 12", connTrips, connCmds)
	}
	if life := connCmds + idleCmds + discCmds; life > 16 {
		t.Errorf("a session's life costs %.2f commands; want at most 16", life)
	}

	// A reconnect of a device that acknowledged a message before, with one
	// waiting now and two remembered rooms.
	conns = connectAll("r", "*")
	for i, c := range conns {
		for _, room := range []string{"a", "b"} {
			c.Ask(time.Second, "join", map[string]any{"room": room})
		}
		doPush(t, n, push.Request{To: push.Target{Users: []string{fmt.Sprint("r", i)}}, Event: "first", TTL: ttl(60)})
		events(t, c, "first", 1)[0].Ack(nil)
	}
	testkit.Eventually(t, 5*time.Second, "acks stored", func() bool {
		info, _ := n.User(context.Background(), fmt.Sprint("r", clients-1))
		return info.Pending == 0
	})
	closeAll(conns)
	for i := range conns {
		doPush(t, n, push.Request{To: push.Target{Users: []string{fmt.Sprint("r", i)}}, Event: "waiting", TTL: ttl(60)})
	}
	cost.start()
	conns = connectAll("r", "*")
	roomTrips, roomCmds, roomBy := cost.stop(clients)
	t.Logf("reconnect with a message waiting and 2 rooms: %.2f round trips, %.2f commands (%s)", roomTrips, roomCmds, roomBy)
	if roomTrips > 2 {
		t.Errorf("a reconnect into 2 rooms costs %.2f round trips; want at most 2", roomTrips)
	}
	for _, c := range conns {
		if got := events(t, c, "waiting", 1); len(c.EmitsOf("first")) != 0 {
			t.Fatalf("the acknowledged message came again with %v", got)
		}
	}
	for _, room := range []string{"a", "b"} {
		if info, _ := n.Room(context.Background(), room); info.Members != clients {
			t.Fatalf("room %s has %d members after the reconnects; want %d", room, info.Members, clients)
		}
	}
}

// A connect storm into one node spreads over a Redis Cluster's masters:
// users, their mailboxes and the node's index buckets each hash to slots
// of their own, so no master (and no slot) takes every connect.
func TestConnectStormSpreadsOverClusterMasters(t *testing.T) {
	masters := redistest.StartCluster(t)
	n := newTestNode(t, func(c *Config) { c.Redis = "redis-cluster://" + strings.Join(masters, ",") })
	warm := connect(t, n, "warm", "d") // loads the scripts
	warm.Close("transport close")
	before := make([]map[string]int64, len(masters))
	for i, addr := range masters {
		before[i] = redistest.CommandCalls(t, addr)
	}
	const clients = 600
	conns := make([]*enginetest.Conn, clients)
	for i := range conns {
		conns[i] = connect(t, n, fmt.Sprintf("storm-%d", i), "phone")
	}
	for _, c := range conns {
		c.Close("transport close")
	}
	testkit.Eventually(t, 5*time.Second, "all removed", func() bool { return n.hub.Count() == 0 })
	counts := make([]int64, len(masters))
	for i, addr := range masters {
		for name, calls := range redistest.CommandCalls(t, addr) {
			if name != "info" && !strings.HasPrefix(name, "cluster") && name != "hello" && !strings.HasPrefix(name, "client") {
				counts[i] += calls - before[i][name]
			}
		}
	}
	t.Logf("commands per master over %d connects and disconnects: %v", clients, counts)
	lo, hi := slices.Min(counts), slices.Max(counts)
	if lo == 0 || float64(hi)/float64(lo) > 2 {
		t.Fatalf("commands per master %v: want within 2:1", counts)
	}
}
