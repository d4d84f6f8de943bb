package mailbox

import (
	"testing"
	"time"
)

func TestIDsSortByTimeAndCarryIt(t *testing.T) {
	t0 := time.UnixMilli(1_795_000_000_123)
	a, b := NewID(t0), NewID(t0.Add(10*time.Millisecond))
	if len(a) != 26 || !(a < b) {
		t.Fatalf("ids %q, %q: want 26 chars each, the later one sorting after", a, b)
	}
	ms, ok := IDTime(a)
	if !ok || ms > t0.UnixMilli() || t0.UnixMilli()-ms >= 8 {
		t.Fatalf("IDTime(%q) = %d, %v; want within 8 ms below %d", a, ms, ok, t0.UnixMilli())
	}
	for _, bad := range []string{"", "m1", "~later", "ZZZZZZZZZZZZZZZZZZZZZZZZZZ"} {
		if _, ok := IDTime(bad); ok {
			t.Fatalf("IDTime(%q) accepted", bad)
		}
	}
}
