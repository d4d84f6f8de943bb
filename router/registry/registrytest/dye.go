package registrytest

import (
	"testing"

	"courier/router/registry"
)

func testDye(t *testing.T, f Factory) {
	h := setup(t, f, registry.Config{})
	want := func(user, env string) {
		t.Helper()
		got, err := h.r.Dye(h.ctx, user)
		if err != nil || got != env {
			t.Fatalf("Dye(%q) = %q, %v; want %q", user, got, err, env)
		}
	}
	want("tester", "")
	for _, step := range []struct{ user, env string }{{"tester", "test"}, {"{odd}:user", "staging"}, {"tester", "canary"}} {
		if err := h.r.SetDye(h.ctx, step.user, step.env); err != nil {
			t.Fatal(err)
		}
		want(step.user, step.env)
	}
	want("other", "")
	if err := h.r.SetDye(h.ctx, "tester", ""); err != nil {
		t.Fatal(err)
	}
	want("tester", "")
	want("{odd}:user", "staging")
}
