package mailboxtest

import (
	"slices"
	"testing"

	"courier/router/mailbox"
	"courier/router/testkit"
)

// RunNudges runs the suite of mailbox.Nudges against the implementation
// newNudges builds. Subtests run in parallel, each with its own store and
// clock.
func RunNudges(t *testing.T, newNudges NudgesFactory) {
	t.Run("Nudges", func(t *testing.T) {
		t.Parallel()
		testNudges(t, newNudges)
	})
}

func testNudges(t *testing.T, f NudgesFactory) {
	n := f(t, mailbox.Config{Now: testkit.NewClock().Now})
	take := func(node string, max int) []mailbox.Stream {
		t.Helper()
		got, err := n.TakeNudges(t.Context(), node, max)
		if err != nil {
			t.Fatalf("TakeNudges(%q): %v", node, err)
		}
		slices.Sort(got)
		return got
	}
	nudge := func(node string, s mailbox.Stream) {
		t.Helper()
		if err := n.Nudge(t.Context(), node, s); err != nil {
			t.Fatalf("Nudge(%q, %q): %v", node, s, err)
		}
	}
	if got := take("n1", 0); len(got) != 0 {
		t.Fatalf("nothing nudged, took %q", got)
	}
	a, b, room := mailbox.UserStream("a"), mailbox.UserStream("{b}"), mailbox.RoomStream("r")
	nudge("n1", a)
	nudge("n1", a) // twice before a take: once
	nudge("n1", b)
	nudge("n2", room)
	nudge("n1", mailbox.AllStream)
	if got := take("n1", 0); !slices.Equal(got, []mailbox.Stream{mailbox.AllStream, a, b}) {
		t.Fatalf("n1 took %q", got)
	}
	if got := take("n1", 0); len(got) != 0 {
		t.Fatalf("taken twice: %q", got)
	}
	nudge("n1", a)
	nudge("n1", b)
	first := take("n1", 1)
	rest := take("n1", 0)
	if len(first) != 1 || len(rest) != 1 || first[0] == rest[0] {
		t.Fatalf("a take of at most 1 got %q, then %q", first, rest)
	}
	if got := take("n2", 0); !slices.Equal(got, []mailbox.Stream{room}) {
		t.Fatalf("n2 took %q, want its own nudge only", got)
	}
}
