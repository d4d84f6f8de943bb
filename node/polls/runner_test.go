package polls

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"courier/router/testkit"
)

const tick = 40 * time.Millisecond // a task interval for unit tests

// TestRunnerPushesOnlyOnChange: equal answers (even reordered or
// reformatted) push nothing; a changed one pushes {to, event, data, ttl}.
func TestRunnerPushesOnlyOnChange(t *testing.T) {
	t.Parallel()
	answers := []string{`{"a":1,"b":[1,2]}`, `{ "b":[1,2], "a":1 }`, `{"a":1,"b":[1,2]}`, `{"a":2}`}
	b := newBackend(func(_ string, n int) (json.RawMessage, error) {
		return json.RawMessage(answers[min(n, len(answers)-1)]), nil
	})
	store, p, m := NewMemory(Config{}), &pushes{}, newCounts()
	ttl := 30.0
	task := testTask("t", tick)
	task.TTL = &ttl
	mustPut(t, store, task)
	startRunner(t, RunnerConfig{Node: "n1", Store: store, Caller: b.caller("n1"), Push: p.push, Metrics: m})

	testkit.Eventually(t, 5*time.Second, "six calls", func() bool { return len(b.callsOf("t")) >= 6 })
	got := p.all()
	if len(got) != 2 {
		t.Fatalf("pushed %d times, want 2 (the first answer and the one change): %+v", len(got), got)
	}
	if string(got[0].Data) != answers[0] || string(got[1].Data) != answers[3] {
		t.Fatalf("pushed data %s then %s", got[0].Data, got[1].Data)
	}
	if got[0].Event != "ev-t" || len(got[0].To.Users) != 1 || got[0].To.Users[0] != "u1" || got[0].TTL == nil || *got[0].TTL != 30 {
		t.Fatalf("push request %+v does not carry the task's to, event and ttl", got[0])
	}
	if m.get("pushed t") != 2 || m.get("acquired t") != 1 || m.get("ran t") < 6 {
		t.Fatalf("metrics %v", m.m)
	}
	if res, ok, _ := store.LastResult(t.Context(), "t"); !ok || res.Hash != answerHash(json.RawMessage(answers[3])) {
		t.Fatalf("last result %+v, %v", res, ok)
	}
}

// TestRunnerErrorsCounted: failed calls, answers that are not JSON and
// failed pushes are logged and counted; the runner keeps going, and a push
// that failed is retried at the next run (nothing was recorded).
func TestRunnerErrorsCounted(t *testing.T) {
	t.Parallel()
	b := newBackend(func(_ string, n int) (json.RawMessage, error) {
		switch n {
		case 0:
			return nil, errors.New("backend down")
		case 1:
			return json.RawMessage(`not json`), nil
		default:
			return json.RawMessage(`{"v":1}`), nil
		}
	})
	store, m := NewMemory(Config{}), newCounts()
	p := &pushes{fail: errors.New("store down")}
	mustPut(t, store, testTask("t", tick))
	startRunner(t, RunnerConfig{Node: "n1", Store: store, Caller: b.caller("n1"), Push: p.push, Metrics: m})

	testkit.Eventually(t, 5*time.Second, "a failed push", func() bool { return m.get("failed t push") >= 1 })
	if m.get("failed t call") != 2 {
		t.Fatalf("call failures %d, want 2 (an error, then an answer that is not JSON)", m.get("failed t call"))
	}
	p.mu.Lock()
	p.fail = nil
	p.mu.Unlock()
	testkit.Eventually(t, 5*time.Second, "the retried push", func() bool { return len(p.all()) == 1 })
	n := len(b.callsOf("t"))
	testkit.Eventually(t, 5*time.Second, "more calls", func() bool { return len(b.callsOf("t")) >= n+2 })
	if len(p.all()) != 1 {
		t.Fatalf("pushed %d times, want 1", len(p.all()))
	}
}

// blindRenew is a store whose renewals always succeed without looking:
// the runner believes it holds the lease, so only fencing can stop it.
type blindRenew struct{ Store }

func (blindRenew) Renew(context.Context, string, string, uint64, time.Duration) (bool, error) {
	return true, nil
}

// TestRunnerStaleTokenStops: a holder that lost its lease without noticing
// (it paused past it) is refused by SetLastResult and stops running the task;
// it pushes at most once after the takeover.
func TestRunnerStaleTokenStops(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock()
	mem := NewMemory(Config{Now: clk.Now})
	b := newBackend(func(_ string, n int) (json.RawMessage, error) {
		return json.RawMessage(`{"n":` + itoa(n) + `}`), nil // every answer is a change
	})
	p, m := &pushes{}, newCounts()
	mustPut(t, mem, testTask("t", tick))
	r := startRunner(t, RunnerConfig{Node: "n1", Store: blindRenew{mem}, Caller: b.caller("n1"), Push: p.push, Metrics: m})
	testkit.Eventually(t, 5*time.Second, "two calls", func() bool { return len(b.callsOf("t")) >= 2 })

	clk.Advance(time.Hour) // n1's lease lapses by the store's clock...
	tok, ok, err := mem.Acquire(t.Context(), "t", "n2", time.Hour)
	if err != nil || !ok {
		t.Fatalf("n2 could not take the lapsed task: %v, %v", ok, err)
	}
	pushesBefore := len(p.all())
	testkit.Eventually(t, 5*time.Second, "n1 to be fenced", func() bool { return m.get("lost t fenced") == 1 })
	if len(r.Holding()) != 0 {
		t.Fatalf("n1 still holds %v", r.Holding())
	}
	if extra := len(p.all()) - pushesBefore; extra > 1 {
		t.Fatalf("n1 pushed %d times after the takeover, want at most 1", extra)
	}
	calls := len(b.callsOf("t"))
	time.Sleep(5 * tick) // let n1 scan a few times: it must not take the task back
	if now := len(b.callsOf("t")); now != calls {
		t.Fatalf("n1 called %d more times after it was fenced", now-calls)
	}
	if l, ok, _ := mem.Lease(t.Context(), "t"); !ok || l.Node != "n2" || l.Token != tok {
		t.Fatalf("lease %+v, %v; want n2's", l, ok)
	}
}

// TestRunnerDeletedTaskStops: a deleted task stops within an interval.
func TestRunnerDeletedTaskStops(t *testing.T) {
	t.Parallel()
	interval := 200 * time.Millisecond
	b := newBackend(func(string, int) (json.RawMessage, error) { return json.RawMessage(`1`), nil })
	store, m := NewMemory(Config{}), newCounts()
	mustPut(t, store, testTask("t", interval))
	r := startRunner(t, RunnerConfig{Node: "n1", Store: store, Caller: b.caller("n1"), Push: (&pushes{}).push, Metrics: m})
	testkit.Eventually(t, 5*time.Second, "a call", func() bool { return len(b.callsOf("t")) >= 1 })
	deleted := time.Now()
	if _, err := store.Delete(t.Context(), "t"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the runner to let go", func() bool { return len(r.Holding()) == 0 })
	if took := time.Since(deleted); took > interval {
		t.Fatalf("a deleted task ran on for %v, more than its interval %v", took, interval)
	}
	for _, c := range b.callsOf("t") {
		if c.at.After(deleted.Add(interval)) {
			t.Fatalf("called at %v, %v after the delete", c.at, c.at.Sub(deleted))
		}
	}
}

// TestRunnerFollowsReplacement: a replaced task runs its new definition and,
// its result forgotten, pushes its next answer even though it is the same.
func TestRunnerFollowsReplacement(t *testing.T) {
	t.Parallel()
	b := newBackend(func(string, int) (json.RawMessage, error) { return json.RawMessage(`"same"`), nil })
	store, p := NewMemory(Config{}), &pushes{}
	task := testTask("t", tick)
	mustPut(t, store, task)
	startRunner(t, RunnerConfig{Node: "n1", Store: store, Caller: b.caller("n1"), Push: p.push, MaxScan: tick})
	testkit.Eventually(t, 5*time.Second, "the first push", func() bool { return len(p.all()) == 1 })
	task.Event = "renamed"
	mustPut(t, store, task)
	testkit.Eventually(t, 5*time.Second, "a push of the new definition", func() bool {
		all := p.all()
		return len(all) == 2 && all[1].Event == "renamed"
	})
}

// TestRunnerStopReleases: a graceful stop releases the lease at once.
func TestRunnerStopReleases(t *testing.T) {
	t.Parallel()
	b := newBackend(func(string, int) (json.RawMessage, error) { return json.RawMessage(`1`), nil })
	store := NewMemory(Config{})
	mustPut(t, store, testTask("t", time.Hour))
	r := startRunner(t, RunnerConfig{Node: "n1", Store: store, Caller: b.caller("n1"), Push: (&pushes{}).push})
	testkit.Eventually(t, 5*time.Second, "a call", func() bool { return len(b.callsOf("t")) == 1 })
	if l, ok, _ := store.Lease(t.Context(), "t"); !ok || l.Node != "n1" {
		t.Fatalf("lease %+v, %v", l, ok)
	}
	r.Stop(t.Context())
	if l, ok, _ := store.Lease(t.Context(), "t"); ok {
		t.Fatalf("lease %+v still held after Stop", l)
	}
}

func TestRunnerConfigValidate(t *testing.T) {
	t.Parallel()
	if _, err := NewRunner(RunnerConfig{}); err == nil {
		t.Fatal("an empty config was accepted")
	}
}

func mustPut(t *testing.T, s Store, task Task) {
	t.Helper()
	if _, err := s.Put(t.Context(), task); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestPrometheusMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewPrometheus(reg)
	m.Ran("a")
	m.Failed("a", "call")
	m.Lost("a", "fenced")
	families, err := reg.Gather()
	if err != nil || len(families) != 3 {
		t.Fatalf("gathered %d families, %v; want 3 (runs, errors, lost)", len(families), err)
	}
}
