package polls

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"courier/node/command"
	"courier/node/push"
	"courier/router/testkit"
)

// call is one command call a fake backend saw.
type call struct {
	node, task string
	at         time.Time
}

// backend is a fake Caller shared by the runners of a test: it records who
// called which task and answers with answer(task, n), n counting that
// task's calls from 0.
type backend struct {
	mu     sync.Mutex
	calls  []call
	n      map[string]int
	answer func(task string, n int) (json.RawMessage, error)
}

func newBackend(answer func(task string, n int) (json.RawMessage, error)) *backend {
	return &backend{n: map[string]int{}, answer: answer}
}

// caller is the backend as node sees it.
func (b *backend) caller(node string) command.Caller { return callerFunc{b: b, node: node} }

type callerFunc struct {
	b    *backend
	node string
}

func (c callerFunc) Call(ctx context.Context, req command.Request) (json.RawMessage, error) {
	var body struct{ Task string }
	if err := json.Unmarshal(req.Data, &body); err != nil || body.Task == "" {
		return nil, fmt.Errorf("fake backend: data %s names no task", req.Data)
	}
	if req.TraceID == "" {
		return nil, fmt.Errorf("fake backend: no trace id")
	}
	c.b.mu.Lock()
	n := c.b.n[body.Task]
	c.b.n[body.Task]++
	c.b.calls = append(c.b.calls, call{node: c.node, task: body.Task, at: time.Now()})
	c.b.mu.Unlock()
	return c.b.answer(body.Task, n)
}

// callsOf returns the calls of task, in order.
func (b *backend) callsOf(task string) []call {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []call
	for _, c := range b.calls {
		if c.task == task {
			out = append(out, c)
		}
	}
	return out
}

// pushes records what the runners pushed.
type pushes struct {
	mu   sync.Mutex
	reqs []push.Request
	fail error
}

func (p *pushes) push(_ context.Context, req *push.Request) (push.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return push.Result{}, p.fail
	}
	p.reqs = append(p.reqs, *req)
	return push.Result{ID: fmt.Sprint("m", len(p.reqs))}, nil
}

func (p *pushes) all() []push.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]push.Request(nil), p.reqs...)
}

// counts is a Metrics that counts by "method task [stage]".
type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func newCounts() *counts { return &counts{m: map[string]int{}} }

func (c *counts) inc(k string) {
	c.mu.Lock()
	c.m[k]++
	c.mu.Unlock()
}
func (c *counts) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}
func (c *counts) Ran(t string)           { c.inc("ran " + t) }
func (c *counts) Pushed(t string)        { c.inc("pushed " + t) }
func (c *counts) Failed(t, stage string) { c.inc("failed " + t + " " + stage) }
func (c *counts) Acquired(t string)      { c.inc("acquired " + t) }
func (c *counts) Lost(t, reason string)  { c.inc("lost " + t + " " + reason) }

// testTask polls the fake backend every interval.
func testTask(name string, interval time.Duration) Task {
	return Task{Name: name, Cmd: "/test.Poll/Get", Data: json.RawMessage(`{"task":"` + name + `"}`),
		Interval: interval, To: push.Target{Users: []string{"u1"}}, Event: "ev-" + name}
}

// startRunner starts a runner stopped (with release) at cleanup.
func startRunner(t *testing.T, cfg RunnerConfig) *Runner {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = testkit.LoggerAt(t, slog.LevelDebug)
	}
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Stop(ctx)
	})
	return r
}
