package cluster

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"courier/router/testkit"
)

// A node restarted under the same id and address, after the others declared it dead:
// it refutes the death with a higher memberlist incarnation and is alive again with
// its new Started.
func TestRestartAfterDeathIsAliveWithNewIncarnation(t *testing.T) {
	t.Parallel()
	a := start(t, testConfig(t, "a"))
	cfgB := testConfig(t, "b", a.Addr())
	b := start(t, cfgB)
	testkit.Eventually(t, 5*time.Second, "b alive on a", func() bool { return stateOf(a.Cluster, "b") == StateAlive })
	old := b.Self().Started
	_ = b.Shutdown()
	testkit.Eventually(t, 5*time.Second, "b dead on a", func() bool { return stateOf(a.Cluster, "b") == StateDead })

	cfgB.GossipListen = b.Addr() // same address, as a restarted process would have
	cfgB.Meta.Started = old + 1
	b2 := start(t, cfgB)
	testkit.Eventually(t, 5*time.Second, "the new b alive on a", func() bool {
		m, _ := member(a.Cluster, "b")
		return m.State == StateAlive && m.Started == old+1
	})
	testkit.Eventually(t, 5*time.Second, "a alive on the new b", func() bool { return stateOf(b2.Cluster, "a") == StateAlive })
	want := []string{fmt.Sprintf("alive:%d", old), fmt.Sprintf("dead:%d", old), fmt.Sprintf("alive:%d", old+1)}
	testkit.Eventually(t, time.Second, "a told b died and came back", func() bool { return slices.Equal(a.rec.about("b"), want) })
}

// A node restarted so fast that nobody declared it dead: the new Started tells the
// others that the old process is gone, and they report it dead, then the new one alive.
func TestQuickRestartReportsOldIncarnationDead(t *testing.T) {
	t.Parallel()
	a := start(t, testConfig(t, "a"))
	cfgB := testConfig(t, "b", a.Addr())
	b := start(t, cfgB)
	testkit.Eventually(t, 5*time.Second, "b alive on a", func() bool { return stateOf(a.Cluster, "b") == StateAlive })
	old := b.Self().Started
	_ = b.Shutdown()

	cfgB.GossipListen = b.Addr()
	cfgB.Meta.Started = old + 1
	start(t, cfgB)
	want := []string{fmt.Sprintf("alive:%d", old), fmt.Sprintf("dead:%d", old), fmt.Sprintf("alive:%d", old+1)}
	testkit.Eventually(t, 5*time.Second, "a told the old b died and the new one is alive", func() bool {
		return slices.Equal(a.rec.about("b"), want)
	})
	if m, _ := member(a.Cluster, "b"); m.State != StateAlive || m.Started != old+1 {
		t.Errorf("a sees b as %+v", m)
	}
}
