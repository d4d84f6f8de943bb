package cluster

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"courier/router/testkit"
)

// fastTuning makes failure detection take well under a second instead of seconds:
// a node is probed every 100 ms and a failed probe leads to death after 3 probe
// intervals of suspicion (6 when nobody can confirm it).
func fastTuning() Tuning {
	return Tuning{
		ProbeInterval:    100 * time.Millisecond,
		ProbeTimeout:     80 * time.Millisecond,
		GossipInterval:   20 * time.Millisecond,
		PushPullInterval: 500 * time.Millisecond,
		SuspicionMult:    3,
		// A lone node waits 2×, not 6×, the suspicion timeout for confirmations.
		SuspicionMaxTimeoutMult: 2,
		TCPTimeout:              time.Second,
		GossipToTheDead:         2 * time.Second,
		RejoinMin:               50 * time.Millisecond,
		RejoinMax:               300 * time.Millisecond,
	}
}

// testLog is testkit's logger at Info, which goes quiet when the test's
// cleanup reaches it (memberlist goroutines may log after Shutdown returns).
// COURIER_TEST_DEBUG=1 shows memberlist's debug lines too.
func testLog(t *testing.T) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("COURIER_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return testkit.LoggerAt(t, level)
}

// recorder keeps every event a node reported, as "kind:id:started".
type recorder struct {
	mu  sync.Mutex
	evs []string
}

func (r *recorder) events() Events {
	add := func(kind string) func(Member) {
		return func(m Member) {
			r.mu.Lock()
			r.evs = append(r.evs, fmt.Sprintf("%s:%s:%d", kind, m.ID, m.Started))
			r.mu.Unlock()
		}
	}
	return Events{OnAlive: add("alive"), OnDead: add("dead"), OnLeft: add("left"), OnUpdate: add("update")}
}

// about returns the events about node id, in order, as "kind:started".
func (r *recorder) about(id string) []string { return r.aboutSince(0, id) }

// mark is the position of the next event, for aboutSince.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.evs)
}

// aboutSince is about, from position from on: tests look at what followed their
// action, since a loaded machine (race detector, parallel packages) can make a
// probe time out before it and memberlist then reports a false death and recovery.
func (r *recorder) aboutSince(from int, id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.evs[from:] {
		kind, rest, _ := strings.Cut(e, ":")
		if eid, started, _ := strings.Cut(rest, ":"); eid == id {
			out = append(out, kind+":"+started)
		}
	}
	return out
}

type node struct {
	*Cluster
	rec *recorder
}

// testConfig is a node on 127.0.0.1 port 0 sharing a (pretend) Redis store and a secret.
func testConfig(t *testing.T, id string, join ...string) Config {
	return Config{
		NodeID:       id,
		GossipListen: "127.0.0.1:0",
		Join:         join,
		Secret:       "test-secret",
		Meta:         NodeMeta{APIAddr: "api-" + id, PeerAddr: "peer-" + id, Store: "redis:test"},
		Log:          testLog(t).With("test_node", id),
		Tuning:       fastTuning(),
	}
}

// start runs New and shuts the node down at the end of the test.
func start(t *testing.T, cfg Config) *node {
	t.Helper()
	rec := &recorder{}
	cfg.Events = rec.events()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return &node{Cluster: c, rec: rec}
}

// member returns id as seen by c.
func member(c *Cluster, id string) (Member, bool) {
	ms := c.Members()
	i := slices.IndexFunc(ms, func(m Member) bool { return m.ID == id })
	if i < 0 {
		return Member{}, false
	}
	return ms[i], true
}

func stateOf(c *Cluster, id string) State {
	m, _ := member(c, id)
	return m.State
}

// settle waits until every node sees every other alive and its callbacks have been
// told so (events run after the table changes), so a mark taken next is clean.
func settle(t *testing.T, nodes ...*node) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, "all alive and told so", func() bool {
		for _, n := range nodes {
			for _, o := range nodes {
				if n == o {
					continue
				}
				evs := n.rec.about(o.id)
				if stateOf(n.Cluster, o.id) != StateAlive || len(evs) == 0 ||
					evs[len(evs)-1] != fmt.Sprintf("alive:%d", o.Self().Started) {
					return false
				}
			}
		}
		return true
	})
}

// allSee says whether every node sees every id in the given state.
func allSee(nodes []*node, state State, ids ...string) bool {
	for _, n := range nodes {
		for _, id := range ids {
			if stateOf(n.Cluster, id) != state {
				return false
			}
		}
	}
	return true
}
