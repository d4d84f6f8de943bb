package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"courier/router/registry"
)

// removals counts Remove calls on a registry and can hold them all until
// release is closed, or fail them all.
type removals struct {
	registry.Sessions
	mu      sync.Mutex
	calls   []int // sessions per call
	release chan struct{}
	fail    bool
}

func (r *removals) Remove(ctx context.Context, sessions ...registry.Session) error {
	r.mu.Lock()
	r.calls = append(r.calls, len(sessions))
	fail := r.fail
	r.mu.Unlock()
	if r.release != nil {
		<-r.release
	}
	if fail {
		return errors.New("store down")
	}
	return r.Sessions.Remove(ctx, sessions...)
}

func (r *removals) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func registered(t *testing.T, reg registry.Sessions, n int) []registry.Session {
	t.Helper()
	out := make([]registry.Session, n)
	for i := range out {
		out[i] = registry.Session{ID: fmt.Sprintf("s%d", i), User: fmt.Sprintf("u%d", i%7), Device: "d", Node: "n1", ConnectedAt: time.Now()}
		if err := reg.Add(context.Background(), out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// A disconnect storm costs a few batched removals, not one per session:
// the sessions that close while a batch is in flight go in the next.
func TestDeparturesGoInBatches(t *testing.T) {
	mem := registry.NewMemory(registry.Config{})
	t.Cleanup(mem.Close)
	reg := &removals{Sessions: mem, release: make(chan struct{})}
	sessions := registered(t, mem, 2000)
	d := newDepartures(reg, slog.New(slog.DiscardHandler))
	for _, s := range sessions {
		d.add(s)
	}
	close(reg.release)
	d.wait(context.Background())
	if got, _ := mem.NodeSessions(context.Background(), []string{"n1"}); got["n1"] != 0 {
		t.Fatalf("%d sessions still registered", got["n1"])
	}
	// Each of the 2 flushers took a first batch and waited; what came
	// meanwhile fits in 4 batches of at most 512.
	if calls := reg.callCount(); calls > 6 {
		t.Fatalf("%d Remove calls for 2000 departures: %v", calls, reg.calls)
	}
	if left := d.takeLeft(); len(left) != 0 {
		t.Fatalf("%d sessions left after a working store", len(left))
	}
}

// A store that keeps failing gets a bounded number of tries per batch;
// what it refused is left for healing, which removes it once the store
// answers again.
func TestDeparturesTheStoreRefusedAreLeftForHealing(t *testing.T) {
	mem := registry.NewMemory(registry.Config{})
	t.Cleanup(mem.Close)
	reg := &removals{Sessions: mem, fail: true}
	sessions := registered(t, mem, 10)
	log := slog.New(slog.DiscardHandler)
	h := &Hub{cfg: Config{Registry: reg}, log: log, departing: newDepartures(reg, log)}
	for _, s := range sessions {
		h.departing.add(s)
	}
	h.AwaitDepartures(context.Background())
	// However the closes fell into batches, each session was tried exactly
	// departAttempts times.
	reg.mu.Lock()
	tried := 0
	for _, n := range reg.calls {
		tried += n
	}
	reg.mu.Unlock()
	if tried != departAttempts*len(sessions) {
		t.Fatalf("sessions tried %d times over %v, want %d each", tried, reg.calls, departAttempts)
	}
	if n, err := h.RemoveLeft(context.Background()); err == nil || n != 0 {
		t.Fatalf("RemoveLeft on a failing store: %d, %v", n, err)
	}
	reg.mu.Lock()
	reg.fail = false
	reg.mu.Unlock()
	if n, err := h.RemoveLeft(context.Background()); err != nil || n != len(sessions) {
		t.Fatalf("RemoveLeft: %d, %v; want %d", n, err, len(sessions))
	}
	if got, _ := mem.NodeSessions(context.Background(), []string{"n1"}); got["n1"] != 0 {
		t.Fatalf("%d sessions still registered", got["n1"])
	}
}

// AwaitDepartures gives up when its context ends, even with a batch stuck.
func TestAwaitDeparturesEndsWithItsContext(t *testing.T) {
	mem := registry.NewMemory(registry.Config{})
	t.Cleanup(mem.Close)
	reg := &removals{Sessions: mem, release: make(chan struct{})}
	defer close(reg.release)
	d := newDepartures(reg, slog.New(slog.DiscardHandler))
	d.add(registered(t, mem, 1)[0])
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	d.wait(ctx)
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("waited %v past its context", waited)
	}
}
