package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"courier/node/command"
	"courier/node/push"
	"courier/router/redistest"
	"courier/router/testkit"
)

// What an operator asks of /metrics, on a node on a real Redis: push
// latency, command latency by route and result, store latency by operation
// and store errors by kind (Redis stopped under the node).
func TestOperatorMetrics(t *testing.T) {
	redis := redistest.StartRestartable(t)
	n := newTestNode(t, func(c *Config) {
		c.Redis = "redis://" + redis.Addr
		c.Routes = []string{"trpc.app.echo.*=127.0.0.1:1"} // nobody there
	})
	c := connect(t, n, "alice", "phone")
	doPush(t, n, push.Request{To: push.Target{Users: []string{"alice"}}, Event: "e", TTL: ttl(60)})
	events(t, c, "e", 1)
	if got := n.metrics.deliveredCount(); got != 1 {
		t.Fatalf("deliveredCount (the cluster view's msgs/s) = %d; want 1", got)
	}
	if _, err := n.commands.Caller.Call(context.Background(), command.Request{Name: "/trpc.app.echo.Echo/Say", User: "alice"}); err == nil {
		t.Fatal("a call to nobody answered")
	}
	if _, err := n.commands.Caller.Call(context.Background(), command.Request{Name: "/trpc.app.other.X/Y", User: "alice"}); err == nil {
		t.Fatal("an unrouted call answered")
	}

	gathered := func(name string) string {
		t.Helper()
		mfs, err := n.metrics.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, mf := range mfs {
			if mf.GetName() == name {
				b.WriteString(mf.String())
			}
		}
		return b.String()
	}
	if !strings.Contains(gathered("courier_push_duration_seconds"), "sample_count:1 ") {
		t.Fatalf("push duration: %s", gathered("courier_push_duration_seconds"))
	}
	if !strings.Contains(gathered("courier_delivery_latency_seconds"), "sample_count:1 ") {
		t.Fatalf("delivery latency: %s", gathered("courier_delivery_latency_seconds"))
	}
	cmds := gathered("courier_command_duration_seconds")
	if !strings.Contains(cmds, `value:"trpc.app.echo.*"`) || !strings.Contains(cmds, `value:"unavailable"`) || !strings.Contains(cmds, `value:"not_found"`) {
		t.Fatalf("command duration: %s", cmds)
	}
	if store := gathered("courier_store_duration_seconds"); !strings.Contains(store, `value:"script"`) {
		t.Fatalf("store duration: %s", store)
	}

	redis.Kill()
	testkit.Eventually(t, 10*time.Second, "store errors counted", func() bool {
		_, _ = n.User(context.Background(), "alice") // a store call that fails now
		errs := gathered("courier_store_errors_total")
		return strings.Contains(errs, `value:"unreachable"`) || strings.Contains(errs, `value:"timeout"`)
	})
}
