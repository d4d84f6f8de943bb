package cluster

import (
	"fmt"
	"testing"
	"time"

	"courier/router/testkit"
)

// A node cut off from the others is declared dead by them (and declares them dead);
// once the partition heals, the rejoin loop brings everyone back alive. Cutting off
// the first node (the others' seed, which has no seed itself) checks that the
// survivors reconnect to the dead; cutting off a later one checks the seeds.
func TestPartitionedNodeRejoinsAfterHealing(t *testing.T) {
	t.Parallel()
	for _, cut := range []int{0, 2} {
		t.Run(fmt.Sprintf("cut node %d", cut), func(t *testing.T) {
			t.Parallel()
			p := NewPartitioner()
			var nodes []*node
			var addrs []string
			for i, id := range []string{"a", "b", "c"} {
				tr, err := NewPartitionableTransport(p, "127.0.0.1:0", testLog(t))
				if err != nil {
					t.Fatal(err)
				}
				var seeds []string
				if i > 0 {
					seeds = addrs[:1]
				}
				cfg := testConfig(t, id, seeds...)
				cfg.Transport = tr
				nodes = append(nodes, start(t, cfg))
				addrs = append(addrs, tr.Addr())
				if nodes[i].Addr() != tr.Addr() {
					t.Fatalf("node advertises %s, transport is bound to %s", nodes[i].Addr(), tr.Addr())
				}
			}
			ids := []string{"a", "b", "c"}
			settle(t, nodes...)

			lone := nodes[cut]
			var others []*node
			var otherAddrs []string
			for i, n := range nodes {
				if i != cut {
					others = append(others, n)
					otherAddrs = append(otherAddrs, addrs[i])
				}
			}
			started := lone.Self().Started
			marks := []int{others[0].rec.mark(), others[1].rec.mark()}
			p.Cut(addrs[cut], otherAddrs...)
			testkit.Eventually(t, 5*time.Second, "the cut node dead on both sides", func() bool {
				return allSee(others, StateDead, lone.id) &&
					allSee([]*node{lone}, StateDead, others[0].id, others[1].id) &&
					allSee(others, StateAlive, others[0].id, others[1].id)
			})

			p.HealAll()
			testkit.Eventually(t, 5*time.Second, "all alive again", func() bool { return allSee(nodes, StateAlive, ids...) })
			// Told it died, and last that it is alive (memberlist may flap while the
			// refutations spread, each flap reported in order).
			dead, alive := fmt.Sprintf("dead:%d", started), fmt.Sprintf("alive:%d", started)
			for i, n := range others {
				testkit.Eventually(t, time.Second, n.id+" told the cut node died and came back", func() bool {
					evs := n.rec.aboutSince(marks[i], lone.id)
					return len(evs) >= 2 && evs[0] == dead && evs[len(evs)-1] == alive
				})
			}
		})
	}
}
