package registry_test

import (
	"fmt"
	"testing"
	"time"

	"courier/router/registry"
	"courier/router/registry/registrytest"
	"courier/router/testkit"
)

func newMemory(t testing.TB, cfg registry.Config) *registry.Memory {
	m := registry.NewMemory(cfg)
	t.Cleanup(m.Close)
	return m
}

func TestMemoryContract(t *testing.T) {
	registrytest.Run(t, func(t *testing.T, cfg registry.Config) registry.Registry {
		return newMemory(t, cfg)
	})
}

// TestMemoryStaysBounded: emptied rooms and idle devices are forgotten.
func TestMemoryStaysBounded(t *testing.T) {
	ctx := t.Context()
	clk := testkit.ClockAt(time.UnixMilli(1_700_000_000_000))
	m := newMemory(t, registry.Config{DeviceTTL: time.Hour, Now: clk.Now})
	for i := range 50 {
		s := registry.Session{ID: fmt.Sprint(i), User: fmt.Sprint("u", i), Node: "n"}
		if err := m.Add(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := m.Join(ctx, fmt.Sprint("room", i), s); err != nil {
			t.Fatal(err)
		}
		if err := m.RememberRoom(ctx, s.User, "d", "room", true); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := m.Stats(), (registry.Stats{Sessions: 50, Rooms: 50, Devices: 50}); got != want {
		t.Fatalf("Stats = %+v; want %+v", got, want)
	}
	if n, _ := m.PurgeNode(ctx, "n"); n != 50 {
		t.Fatalf("PurgeNode = %d; want 50", n)
	}
	clk.Advance(time.Hour)
	m.Sweep()
	if got := m.Stats(); got != (registry.Stats{}) {
		t.Fatalf("Stats = %+v; want all zero", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (registry.Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	if (registry.Config{DeviceTTL: -time.Second}).Validate() == nil {
		t.Fatal("negative DeviceTTL: want an error")
	}
}

// BenchmarkUserSessions: the lookup every push to a user makes.
func BenchmarkUserSessions(b *testing.B) {
	m := newMemory(b, registry.Config{})
	ctx := b.Context()
	for i := range 10000 {
		s := registry.Session{ID: fmt.Sprint(i), User: fmt.Sprint("u", i%5000), Node: "n"}
		if err := m.Add(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ss, err := m.UserSessions(ctx, "u42"); err != nil || len(ss) != 2 {
				b.Fatalf("UserSessions = %d, %v", len(ss), err)
			}
		}
	})
}

// BenchmarkConnect: one session's connect, room join and disconnect.
func BenchmarkConnect(b *testing.B) {
	m := newMemory(b, registry.Config{})
	ctx := b.Context()
	s := registry.Session{ID: "s", User: "u", Device: "d", Node: "n"}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Add(ctx, s)
		_ = m.Join(ctx, "lobby", s)
		_ = m.Remove(ctx, s)
	}
}
