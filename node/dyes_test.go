package node

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"courier/node/push"
	"courier/router/testkit"
)

// captured keeps the text of every log record, for tests of what is logged.
type captured struct {
	mu    sync.Mutex
	lines []string
}

func (c *captured) Enabled(context.Context, slog.Level) bool { return true }
func (c *captured) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	c.mu.Lock()
	c.lines = append(c.lines, b.String())
	c.mu.Unlock()
	return nil
}
func (c *captured) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *captured) WithGroup(string) slog.Handler      { return c }

func (c *captured) matching(parts ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range c.lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// A dyed user's pushes are traced: the push is logged with its trace id,
// message id and env, and its delivery on the node; another user's are not.
func TestDyedUsersPushesAreTraced(t *testing.T) {
	logs := &captured{}
	n := newTestNodeLogging(t, nil, nil, slog.New(logs))
	alice, bob := connect(t, n, "alice", "phone"), connect(t, n, "bob", "phone")
	if err := n.SetDye(context.Background(), "alice", "qa", time.Hour); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the node sees alice's dye", func() bool { return n.dyeOf("alice") == "qa" })

	idA := doPush(t, n, push.Request{To: push.Target{Users: []string{"alice"}}, Event: "news", TTL: ttl(60)})
	idB := doPush(t, n, push.Request{To: push.Target{Users: []string{"bob"}}, Event: "news", TTL: ttl(60)})
	events(t, alice, "news", 1)
	events(t, bob, "news", 1)
	if got := logs.matching("dyed push", "id="+idA, "user=alice", "env=qa", "event=news", "trace="); len(got) != 1 {
		t.Fatalf("alice's push traced %d times: %q", len(got), logs.matching("dyed"))
	}
	testkit.Eventually(t, 5*time.Second, "alice's delivery traced", func() bool {
		return len(logs.matching("dyed delivery", "id="+idA, "user=alice", "env=qa", "sessions=1")) == 1
	})
	if got := logs.matching("dyed", "id="+idB); len(got) != 0 {
		t.Fatalf("bob's push traced: %q", got)
	}
}
