package registry

import (
	"fmt"
	"slices"
	"testing"
)

func TestIDSetAcrossTheSwitchToAMap(t *testing.T) {
	var s idSet
	var want []string
	for i := 0; i < 2*smallSet; i++ {
		id := fmt.Sprint("s", i)
		s.add(id)
		s.add(id) // twice: still once
		want = append(want, id)
		if s.len() != len(want) {
			t.Fatalf("after %d adds len %d", i+1, s.len())
		}
	}
	for _, id := range []string{"s0", "s17", "s31", "nope"} {
		s.del(id)
	}
	want = slices.DeleteFunc(want, func(id string) bool { return id == "s0" || id == "s17" || id == "s31" })
	got := s.list()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("list %v, want %v", got, want)
	}
	var small idSet
	small.add("a")
	small.add("b")
	small.del("a")
	if got := small.list(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("small list %v", got)
	}
}
