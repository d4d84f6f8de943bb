package registrytest

import (
	"testing"

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
}

func testDye(t *testing.T, f DyesFactory) {
	d := f(t, registry.Config{Now: testkit.NewClock().Now})
	ctx := t.Context()
	want := func(user, env string) {
		t.Helper()
		got, err := d.Dye(ctx, user)
		if err != nil || got != env {
			t.Fatalf("Dye(%q) = %q, %v; want %q", user, got, err, env)
		}
	}
	want("tester", "")
	for _, step := range []struct{ user, env string }{{"tester", "test"}, {"{odd}:user", "staging"}, {"tester", "canary"}} {
		if err := d.SetDye(ctx, step.user, step.env); err != nil {
			t.Fatal(err)
		}
		want(step.user, step.env)
	}
	want("other", "")
	if err := d.SetDye(ctx, "tester", ""); err != nil {
		t.Fatal(err)
	}
	want("tester", "")
	want("{odd}:user", "staging")
}
