package polls

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"courier/router/redistest"
	"courier/router/testkit"
)

// TestClusterOneRunnerAndTakeover: three runners (three nodes) on one real
// redis-server. Each task is called by exactly one of them; when the holder
// of a task dies (its runner halts without releasing anything, as after a
// SIGKILL), another node takes it within two intervals, and the dead one
// never calls again.
func TestClusterOneRunnerAndTakeover(t *testing.T) {
	t.Parallel()
	const interval = time.Second // the smallest a user may ask for
	client := redistest.Client(t, "redis://"+redistest.StartServer(t)+"/0")
	prefix := "test:" + t.Name()

	b := newBackend(func(task string, n int) (json.RawMessage, error) {
		return json.RawMessage(fmt.Sprintf(`{"task":%q,"v":%d}`, task, n/2)), nil
	})
	admin := NewRedis(client, Config{}, prefix)
	tasks := []string{"t0", "t1", "t2", "t3"}
	for _, name := range tasks {
		mustPut(t, admin, testTask(name, interval))
	}
	runners := map[string]*Runner{}
	for i := range 3 {
		node := fmt.Sprint("n", i)
		runners[node] = startRunner(t, RunnerConfig{
			Node: node, Store: NewRedis(client, Config{}, prefix),
			Caller: b.caller(node), Push: (&pushes{}).push,
		})
	}

	// Phase 1: every task runs, each on one node only.
	testkit.Eventually(t, 10*time.Second, "three calls of every task", func() bool {
		for _, name := range tasks {
			if len(b.callsOf(name)) < 3 {
				return false
			}
		}
		return true
	})
	holder := map[string]string{}
	for _, name := range tasks {
		calls := b.callsOf(name)
		for _, c := range calls {
			if c.node != calls[0].node {
				t.Fatalf("task %s was called by %s and %s: want one runner", name, calls[0].node, c.node)
			}
		}
		holder[name] = calls[0].node
		checkSpacing(t, name, calls, interval)
	}
	t.Logf("holders: %v", holder)

	// Phase 2: the holder of t0 dies.
	dead := holder["t0"]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	runners[dead].halt(ctx) // no Release: the store only sees silence
	cancel()
	died := time.Now()
	var taker call
	testkit.Eventually(t, 4*interval, "another node to call t0", func() bool {
		for _, c := range b.callsOf("t0") {
			if c.node != dead {
				taker = c
				return true
			}
		}
		return false
	})
	took := taker.at.Sub(died)
	t.Logf("%s died; %s took t0 over after %v (interval %v)", dead, taker.node, took, interval)
	if took > 2*interval {
		t.Fatalf("takeover took %v, more than two intervals (%v)", took, 2*interval)
	}
	for _, name := range tasks {
		for _, c := range b.callsOf(name) {
			if c.node == dead && c.at.After(died) {
				t.Fatalf("dead node %s called %s at %v after dying", dead, name, c.at.Sub(died))
			}
		}
	}

	// Phase 3: still one runner per task among the survivors.
	since := time.Now()
	testkit.Eventually(t, 10*time.Second, "two more calls of every task", func() bool {
		for _, name := range tasks {
			if len(after(b.callsOf(name), since)) < 2 {
				return false
			}
		}
		return true
	})
	for _, name := range tasks {
		calls := after(b.callsOf(name), since)
		for _, c := range calls {
			if c.node != calls[0].node || c.node == dead {
				t.Fatalf("task %s called by %s and %s after the takeover", name, calls[0].node, c.node)
			}
		}
	}
}

// checkSpacing: a task runs about once per interval, never twice at once.
func checkSpacing(t *testing.T, name string, calls []call, interval time.Duration) {
	t.Helper()
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].at.Sub(calls[i-1].at); gap < interval*9/10 {
			t.Fatalf("task %s called twice %v apart, interval %v", name, gap, interval)
		}
	}
}

func after(calls []call, t time.Time) []call {
	var out []call
	for _, c := range calls {
		if c.at.After(t) {
			out = append(out, c)
		}
	}
	return out
}
