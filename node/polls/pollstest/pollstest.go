// Package pollstest is the contract test suite every polls.Store passes:
// the in-memory one always, Redis against a real server.
//
// Time moves only through the Config.Now the suite passes to the factory,
// starting at the real time of day truncated to milliseconds.
package pollstest

import (
	"context"
	"testing"
	"time"

	"courier/node/polls"
	"courier/node/push"
	"courier/router/testkit"
)

// Factory returns a fresh, empty Store built from cfg, isolated from every
// other test (e.g. a unique Redis key prefix) and cleaned up with t.Cleanup.
type Factory func(t *testing.T, cfg polls.Config) polls.Store

// Run runs the whole suite; subtests run in parallel, each with its own
// Store and clock.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, *harness)
	}{
		{"TasksCRUD", testTasksCRUD},
		{"TaskRoundTrip", testTaskRoundTrip},
		{"ReplaceForgetsResultOnlyOnChange", testReplace},
		{"LeaseExclusive", testLeaseExclusive},
		{"LeaseExpiry", testLeaseExpiry},
		{"RenewExpiredUntaken", testRenewExpiredUntaken},
		{"Release", testRelease},
		{"TokensIncrease", testTokensIncrease},
		{"SameNodeReacquires", testSameNodeReacquires},
		{"StaleTokenRefused", testStaleTokenRefused},
		{"ResultTimes", testResultTimes},
		{"DeleteDropsLeaseAndResult", testDelete},
		{"ConcurrentAcquire", testConcurrentAcquire},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := testkit.NewClock()
			tc.fn(t, &harness{t: t, s: newStore(t, polls.Config{Now: clk.Now}), clk: clk, ctx: t.Context()})
		})
	}
}

// harness is one Store with its clock and failing-fast helpers.
type harness struct {
	t   *testing.T
	s   polls.Store
	clk *testkit.Clock
	ctx context.Context
}

func task(name string) polls.Task {
	return polls.Task{Name: name, Cmd: "/pkg.Svc/Get", Interval: time.Second,
		To: push.Target{Users: []string{"u"}}, Event: "ev"}
}

func (h *harness) put(t polls.Task, wantCreated bool) {
	h.t.Helper()
	created, err := h.s.Put(h.ctx, t)
	if err != nil || created != wantCreated {
		h.t.Fatalf("Put(%q) = %v, %v; want created=%v", t.Name, created, err, wantCreated)
	}
}

func (h *harness) acquire(name, node string, ttl time.Duration, wantOK bool) uint64 {
	h.t.Helper()
	tok, ok, err := h.s.Acquire(h.ctx, name, node, ttl)
	if err != nil || ok != wantOK || (ok && tok == 0) {
		h.t.Fatalf("Acquire(%q, %q) = %d, %v, %v; want ok=%v", name, node, tok, ok, err, wantOK)
	}
	return tok
}

func (h *harness) renew(name, node string, tok uint64, ttl time.Duration, want bool) {
	h.t.Helper()
	ok, err := h.s.Renew(h.ctx, name, node, tok, ttl)
	if err != nil || ok != want {
		h.t.Fatalf("Renew(%q, %q, %d) = %v, %v; want %v", name, node, tok, ok, err, want)
	}
}

func (h *harness) setResult(name string, tok uint64, hash string, want bool) {
	h.t.Helper()
	ok, err := h.s.SetLastResult(h.ctx, name, tok, hash)
	if err != nil || ok != want {
		h.t.Fatalf("SetLastResult(%q, %d, %q) = %v, %v; want %v", name, tok, hash, ok, err, want)
	}
}

func (h *harness) wantHolder(name, node string) {
	h.t.Helper()
	l, ok, err := h.s.Lease(h.ctx, name)
	if err != nil {
		h.t.Fatalf("Lease(%q): %v", name, err)
	}
	if node == "" && ok {
		h.t.Fatalf("Lease(%q) = %+v; want none", name, l)
	}
	if node != "" && (!ok || l.Node != node) {
		h.t.Fatalf("Lease(%q) = %+v, %v; want held by %q", name, l, ok, node)
	}
}

func (h *harness) wantResult(name, hash string) polls.Result {
	h.t.Helper()
	r, ok, err := h.s.LastResult(h.ctx, name)
	if err != nil {
		h.t.Fatalf("LastResult(%q): %v", name, err)
	}
	if hash == "" && ok {
		h.t.Fatalf("LastResult(%q) = %+v; want none", name, r)
	}
	if hash != "" && (!ok || r.Hash != hash) {
		h.t.Fatalf("LastResult(%q) = %+v, %v; want hash %q", name, r, ok, hash)
	}
	return r
}
