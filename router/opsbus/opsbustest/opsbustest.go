// Package opsbustest is the contract suite of opsbus.Bus: memory always,
// Redis against a real server and a real Cluster.
package opsbustest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"courier/router/opsbus"
	"courier/router/testkit"
)

// Factory returns two nodes' buses on one fresh, isolated store (for a
// bus that serves one node alone, the same bus twice), closed with
// t.Cleanup. cfg.Node is set by the factory per node ("a", "b").
type Factory func(t *testing.T, cfg opsbus.Config) (a, b opsbus.Bus)

// Run runs the suite.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"WatchSeesEventsOfEveryNode", testWatch},
		{"TracedOnlyWhileWatched", testTracedWhileWatched},
		{"TraceRecordsByID", testTraceRecords},
		{"TraceRecordsExpire", testTraceExpiry},
		{"SlowWatcherNeverBlocksPublishers", testSlowWatcher},
		{"SettingsReachEveryNode", testSettings},
		{"Figures", testFigures},
		{"ClosedBusRefusesWatches", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, f)
		})
	}
}

// eventually is testkit.Eventually with the condition first, as it reads.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	testkit.Eventually(t, timeout, fmt.Sprintf(format, args...), cond)
}

func next(t *testing.T, ch <-chan opsbus.Event) opsbus.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(time.Second):
		t.Fatal("no event within a second")
	}
	return opsbus.Event{}
}

func waitTraced(t *testing.T, b opsbus.Bus, user string, want bool) {
	t.Helper()
	eventually(t, 3*time.Second, func() bool { return b.Traced(user) == want },
		"Traced(%q) never became %v", user, want)
}

func testWatch(t *testing.T, f Factory) {
	a, b := f(t, opsbus.Config{})
	ch, err := a.Watch(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	waitTraced(t, b, "alice", true)
	b.Publish(opsbus.Event{User: "alice", Type: opsbus.TypeDeliver, ID: "m1", Seq: 7})
	b.Publish(opsbus.Event{User: "bob", Type: opsbus.TypeDeliver, ID: "m2", Seq: 1}) // not watched
	a.Publish(opsbus.Event{User: "alice", Type: opsbus.TypeAck, ID: "m1", Node: "a"})
	got := []opsbus.Event{next(t, ch), next(t, ch)}
	slices.SortFunc(got, func(x, y opsbus.Event) int { return len(x.Type) - len(y.Type) })
	if got[0].Type != opsbus.TypeAck || got[1].Type != opsbus.TypeDeliver || got[1].Seq != 7 || got[1].ID != "m1" {
		t.Fatalf("events = %+v; want alice's ack and deliver (seq 7)", got)
	}
	if got[1].TS.IsZero() || got[1].Node == "" {
		t.Fatalf("event %+v lacks the time or the node the bus fills in", got[1])
	}
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event %+v (bob is not watched)", ev)
	case <-time.After(100 * time.Millisecond):
	}
}

func testTracedWhileWatched(t *testing.T, f Factory) {
	a, b := f(t, opsbus.Config{})
	if a.Traced("carol") || b.Traced("carol") {
		t.Fatal("Traced before any watch")
	}
	ctx1, stop1 := context.WithCancel(t.Context())
	ctx2, stop2 := context.WithCancel(t.Context())
	ch1, err1 := a.Watch(ctx1, "carol")
	ch2, err2 := a.Watch(ctx2, "carol")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	waitTraced(t, b, "carol", true)
	stop1()
	for range ch1 { // closes once its context ends
	}
	b.Publish(opsbus.Event{User: "carol", Type: opsbus.TypeConnect})
	if ev := next(t, ch2); ev.Type != opsbus.TypeConnect {
		t.Fatalf("second watcher got %+v", ev)
	}
	stop2()
	for range ch2 {
	}
	waitTraced(t, b, "carol", false)
	waitTraced(t, a, "carol", false)
}

func testTraceRecords(t *testing.T, f Factory) {
	a, b := f(t, opsbus.Config{})
	a.Publish(opsbus.Event{TraceID: "t1", Type: opsbus.TypePush, ID: "m1", Users: 2})
	b.Publish(opsbus.Event{TraceID: "t1", User: "u", Type: opsbus.TypeCmd, Name: "/a.B/C", MS: 1.5, Code: "ok"})
	a.Publish(opsbus.Event{TraceID: "t2", Type: opsbus.TypePush})
	a.Publish(opsbus.Event{TraceID: "t1", User: "u", Type: opsbus.TypePush, LiveOnly: true}) // for watchers only
	var got []opsbus.Event
	eventually(t, 3*time.Second, func() bool {
		var err error
		got, err = b.Trace(t.Context(), "t1")
		return err == nil && len(got) == 2
	}, "trace t1 never held 2 events")
	if got[0].Type != opsbus.TypePush || got[0].Users != 2 || got[1].Name != "/a.B/C" || got[1].Code != "ok" || got[1].MS != 1.5 {
		t.Fatalf("trace t1 = %+v", got)
	}
	if none, err := a.Trace(t.Context(), "unknown"); err != nil || len(none) != 0 {
		t.Fatalf("unknown trace = %v, %v; want none", none, err)
	}
}

func testTraceExpiry(t *testing.T, f Factory) {
	a, _ := f(t, opsbus.Config{Keep: 300 * time.Millisecond})
	a.Publish(opsbus.Event{TraceID: "short", Type: opsbus.TypePush})
	eventually(t, 3*time.Second, func() bool {
		got, _ := a.Trace(t.Context(), "short")
		return len(got) == 1
	}, "trace never recorded")
	eventually(t, 5*time.Second, func() bool {
		got, _ := a.Trace(t.Context(), "short")
		return len(got) == 0
	}, "trace outlived Keep")
}

func testSlowWatcher(t *testing.T, f Factory) {
	a, b := f(t, opsbus.Config{})
	ch, err := a.Watch(t.Context(), "dave")
	if err != nil {
		t.Fatal(err)
	}
	waitTraced(t, b, "dave", true)
	start := time.Now()
	for i := range 5000 {
		b.Publish(opsbus.Event{User: "dave", Type: opsbus.TypeDeliver, Seq: uint64(i + 1)})
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("5000 publishes to a reader that reads nothing took %v", took)
	}
	eventually(t, 5*time.Second, func() bool { return a.Dropped()+b.Dropped() > 0 },
		"nothing counted as dropped past a full watcher")
	if ev := next(t, ch); ev.Seq == 0 {
		t.Fatalf("the watcher still reads what it holds: got %+v", ev)
	}
}

func testSettings(t *testing.T, f Factory) {
	a, b := f(t, opsbus.Config{})
	var mu sync.Mutex
	got := map[opsbus.Bus][]opsbus.Setting{}
	for _, bus := range []opsbus.Bus{a, b} {
		bus.OnSetting(func(s opsbus.Setting) {
			mu.Lock()
			got[bus] = append(got[bus], s)
			mu.Unlock()
		})
	}
	want := opsbus.Setting{Name: "log-level", Value: "debug", From: "a"}
	// A subscription may still be starting: announce until both took it.
	eventually(t, 3*time.Second, func() bool {
		if err := a.Announce(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return len(got[a]) > 0 && len(got[b]) > 0
	}, "the setting never reached both nodes")
	mu.Lock()
	defer mu.Unlock()
	if got[b][0] != want {
		t.Fatalf("b took %+v; want %+v", got[b][0], want)
	}
}

func testFigures(t *testing.T, f Factory) {
	a, b := f(t, opsbus.Config{})
	now := time.Now()
	if err := a.Report(t.Context(), opsbus.NodeFigures{Node: "a", At: now, Sessions: 3, MsgsPerSec: 1.5, MemoryBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := b.Report(t.Context(), opsbus.NodeFigures{Node: "b", At: now.Add(-time.Minute), Sessions: 9}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Figures(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var fresh []opsbus.NodeFigures
	for _, f := range got {
		if f.Node == "a" {
			fresh = append(fresh, f)
		}
		if f.Node == "b" {
			t.Fatalf("a report a minute old is still listed: %+v", f)
		}
	}
	if len(fresh) != 1 || fresh[0].Sessions != 3 || fresh[0].MsgsPerSec != 1.5 || fresh[0].MemoryBytes != 1<<20 {
		t.Fatalf("figures = %+v; want a's report", got)
	}
}

func testClosed(t *testing.T, f Factory) {
	a, _ := f(t, opsbus.Config{})
	ch, err := a.Watch(t.Context(), "erin")
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	for range ch { // Close closes the watchers' channels
	}
	if _, err := a.Watch(t.Context(), "erin"); err == nil {
		t.Fatal("Watch after Close succeeded")
	}
	a.Publish(opsbus.Event{User: "erin", TraceID: "x"}) // must not panic or block
}
