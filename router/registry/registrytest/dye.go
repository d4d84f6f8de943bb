package registrytest

import (
	"testing"
	"time"

	"courier/router/registry"
	"courier/router/testkit"
)

// RunDyes runs the suite of registry.Dyes against the implementation
// newDyes builds. Subtests run in parallel, each with its own store.
func RunDyes(t *testing.T, newDyes DyesFactory) {
	t.Run("Dye", func(t *testing.T) {
		t.Parallel()
		testDye(t, newDyes)
	})
	t.Run("DyeTTLAndList", func(t *testing.T) {
		t.Parallel()
		testDyeTTLAndList(t, newDyes)
	})
}

func wantDye(t *testing.T, d registry.Dyes, user, env string) {
	t.Helper()
	got, err := d.Dye(t.Context(), user)
	if err != nil || got != env {
		t.Fatalf("Dye(%q) = %q, %v; want %q", user, got, err, env)
	}
}

func testDye(t *testing.T, f DyesFactory) {
	d := f(t, registry.Config{Now: testkit.NewClock().Now})
	ctx := t.Context()
	wantDye(t, d, "tester", "")
	for _, step := range []struct{ user, env string }{{"tester", "test"}, {"{odd}:user", "staging"}, {"tester", "canary"}} {
		if err := d.SetDye(ctx, step.user, step.env, time.Hour); err != nil {
			t.Fatal(err)
		}
		wantDye(t, d, step.user, step.env)
	}
	wantDye(t, d, "other", "")
	if err := d.SetDye(ctx, "tester", "", 0); err != nil {
		t.Fatal(err)
	}
	wantDye(t, d, "tester", "")
	wantDye(t, d, "{odd}:user", "staging")
}

// A dye ends at its ttl; Dyes lists the live ones with their end, by user.
func testDyeTTLAndList(t *testing.T, f DyesFactory) {
	clk := testkit.NewClock()
	d := f(t, registry.Config{Now: clk.Now})
	ctx := t.Context()
	start := clk.Now()
	for _, s := range []struct {
		user, env string
		ttl       time.Duration
	}{{"bob", "qa", time.Hour}, {"alice", "canary", 2 * time.Hour}, {"carol", "qa", time.Minute}} {
		if err := d.SetDye(ctx, s.user, s.env, s.ttl); err != nil {
			t.Fatal(err)
		}
	}
	list := func() []registry.Dye {
		t.Helper()
		got, err := d.Dyes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := list(); len(got) != 3 || got[0].User != "alice" || got[0].Env != "canary" || !got[0].Expires.Equal(start.Add(2*time.Hour)) ||
		got[1].User != "bob" || got[2].User != "carol" {
		t.Fatalf("Dyes = %+v", got)
	}
	clk.Advance(time.Minute)
	wantDye(t, d, "carol", "") // its ttl is up
	wantDye(t, d, "bob", "qa")
	if got := list(); len(got) != 2 || got[0].User != "alice" || got[1].User != "bob" {
		t.Fatalf("Dyes after carol's end = %+v", got)
	}
	if err := d.SetDye(ctx, "bob", "qa", 3*time.Hour); err != nil { // dyed again: a new end
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	wantDye(t, d, "alice", "")
	if got := list(); len(got) != 1 || got[0].User != "bob" || !got[0].Expires.Equal(start.Add(time.Minute+3*time.Hour)) {
		t.Fatalf("Dyes = %+v", got)
	}
	if err := d.SetDye(ctx, "bob", "", 0); err != nil {
		t.Fatal(err)
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("Dyes after clearing = %+v", got)
	}
}
