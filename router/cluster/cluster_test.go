package cluster

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"courier/router/testkit"
)

func TestThreeNodesSeeEachOther(t *testing.T) {
	t.Parallel()
	a := start(t, testConfig(t, "a"))
	b := start(t, testConfig(t, "b", a.Addr()))
	c := start(t, testConfig(t, "c", b.Addr()))
	nodes := []*node{a, b, c}
	settle(t, nodes...)
	for _, n := range nodes {
		for _, o := range nodes {
			m, _ := member(n.Cluster, o.id)
			want := o.Self()
			if m.Addr != want.Addr || m.APIAddr != "api-"+o.id || m.PeerAddr != "peer-"+o.id ||
				m.Started != want.Started || m.Store != "redis:test" {
				t.Errorf("%s sees %+v, want the metadata of %+v", n.id, m, want)
			}
			// The first event is the join (a loaded machine may add a false death and
			// recovery after it; settle saw the last one is alive).
			if evs := n.rec.about(o.id); n != o && evs[0] != fmt.Sprintf("alive:%d", want.Started) {
				t.Errorf("%s reported %v about %s, want alive first", n.id, evs, o.id)
			}
		}
	}
}

func TestCrashedNodeIsSuspectThenDeadOnce(t *testing.T) {
	t.Parallel()
	a := start(t, testConfig(t, "a"))
	b := start(t, testConfig(t, "b", a.Addr()))
	c := start(t, testConfig(t, "c", a.Addr()))
	survivors := []*node{a, b}
	settle(t, a, b, c)
	started := c.Self().Started
	marks := []int{a.rec.mark(), b.rec.mark()}

	_ = c.Shutdown() // no Leave: a crash as far as the others can tell
	sawSuspect := false
	testkit.Eventually(t, 5*time.Second, "c dead on both survivors", func() bool {
		for _, n := range survivors {
			sawSuspect = sawSuspect || stateOf(n.Cluster, "c") == StateSuspect
		}
		return allSee(survivors, StateDead, "c")
	})
	if !sawSuspect {
		t.Error("no survivor showed c as suspect before dead")
	}
	want := []string{fmt.Sprintf("dead:%d", started)}
	for i, n := range survivors {
		testkit.Eventually(t, time.Second, n.id+" told c died", func() bool { return len(n.rec.aboutSince(marks[i], "c")) >= 1 })
		_ = n.Shutdown() // no more events: what was reported is final
		if got := n.rec.aboutSince(marks[i], "c"); !slices.Equal(got, want) {
			t.Errorf("%s reported %v about c, want %v", n.id, got, want)
		}
	}
}

func TestGracefulLeave(t *testing.T) {
	t.Parallel()
	a := start(t, testConfig(t, "a"))
	b := start(t, testConfig(t, "b", a.Addr()))
	c := start(t, testConfig(t, "c", a.Addr()))
	settle(t, a, b, c)
	started := c.Self().Started
	marks := []int{a.rec.mark(), b.rec.mark()}

	if err := c.Leave(2 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if s := c.Self().State; s != StateLeft {
		t.Errorf("c sees itself %s after Leave, want left", s)
	}
	_ = c.Shutdown()
	survivors := []*node{a, b}
	testkit.Eventually(t, 3*time.Second, "c left on both survivors", func() bool { return allSee(survivors, StateLeft, "c") })
	want := []string{fmt.Sprintf("left:%d", started)}
	for i, n := range survivors {
		_ = n.Shutdown()
		if got := n.rec.aboutSince(marks[i], "c"); !slices.Equal(got, want) {
			t.Errorf("%s reported %v about c, want %v", n.id, got, want)
		}
	}
}

func TestUpdateMeta(t *testing.T) {
	t.Parallel()
	a := start(t, testConfig(t, "a"))
	b := start(t, testConfig(t, "b", a.Addr()))
	testkit.Eventually(t, 5*time.Second, "b alive on a", func() bool { return stateOf(a.Cluster, "b") == StateAlive })
	if err := b.UpdateMeta(NodeMeta{APIAddr: "api-b2", PeerAddr: "peer-b2"}, time.Second); err != nil {
		t.Fatalf("UpdateMeta: %v", err)
	}
	testkit.Eventually(t, 3*time.Second, "a sees b's new API address", func() bool {
		m, _ := member(a.Cluster, "b")
		return m.APIAddr == "api-b2" && m.PeerAddr == "peer-b2"
	})
	testkit.Eventually(t, time.Second, "a told of b's update", func() bool {
		return slices.Contains(a.rec.about("b"), fmt.Sprintf("update:%d", b.Self().Started))
	})
	if err := b.UpdateMeta(NodeMeta{Started: 1}, time.Second); err == nil {
		t.Error("UpdateMeta changed Started")
	}
}

func TestWrongSecretCannotJoin(t *testing.T) {
	t.Parallel()
	a := start(t, testConfig(t, "a"))
	cfg := testConfig(t, "b", a.Addr())
	cfg.Secret = "another-secret"
	_, err := New(cfg)
	if !errors.Is(err, ErrSecretMismatch) {
		t.Fatalf("New with the wrong secret: %v, want ErrSecretMismatch", err)
	}
	t.Log(err)
	cfg.Secret = ""
	if _, err := New(cfg); !errors.Is(err, ErrSecretMismatch) {
		t.Fatalf("New without a secret: %v, want ErrSecretMismatch", err)
	}
	if ms := a.Members(); len(ms) != 1 {
		t.Errorf("a lists %v", ms)
	}
}

func TestStoresMustMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, a, b, says string }{
		{"both in memory", "", StoreMemory, "both use the in-memory store"},
		{"one in memory", "redis:x", "", "in-memory"},
		{"different redis", "redis:x", "redis:y", `uses store "redis:x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfgA := testConfig(t, "a")
			cfgA.Meta.Store = tc.a
			a := start(t, cfgA)
			cfgB := testConfig(t, "b", a.Addr())
			cfgB.Meta.Store = tc.b
			_, err := New(cfgB)
			if !errors.Is(err, ErrStoreMismatch) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("New: %v, want ErrStoreMismatch saying %q", err, tc.says)
			}
			t.Log(err)
			if ms := a.Members(); len(ms) != 1 {
				t.Errorf("a lists %v", ms)
			}
		})
	}
}

func TestDuplicateIDRefused(t *testing.T) {
	t.Parallel()
	a := start(t, testConfig(t, "a"))
	b := start(t, testConfig(t, "b", a.Addr()))
	testkit.Eventually(t, 5*time.Second, "b alive on a", func() bool { return stateOf(a.Cluster, "b") == StateAlive })
	_, err := New(testConfig(t, "b", a.Addr()))
	if !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("New with b's id: %v, want ErrDuplicateID", err)
	}
	t.Log(err)
	if m, _ := member(a.Cluster, "b"); m.Addr != b.Addr() || m.State != StateAlive {
		t.Errorf("a sees b as %+v, want the original at %s", m, b.Addr())
	}
}

// --join takes DNS names as well as addresses (a headless service, say).
func TestJoinByDNSName(t *testing.T) {
	a := start(t, testConfig(t, "a"))
	_, port, err := net.SplitHostPort(a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	b := start(t, testConfig(t, "b", net.JoinHostPort("localhost", port)))
	testkit.Eventually(t, 5*time.Second, "b alive on a", func() bool { return stateOf(a.Cluster, "b") == StateAlive })
	testkit.Eventually(t, 5*time.Second, "a alive on b", func() bool { return stateOf(b.Cluster, "a") == StateAlive })
}
