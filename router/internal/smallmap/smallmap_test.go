package smallmap

import (
	"fmt"
	"slices"
	"testing"
)

// The map behaves the same below and above Small, and across the switch
// from slice to map.
func TestMapSmallAndLarge(t *testing.T) {
	var m Map[int]
	n := 3 * Small
	for i := 0; i < n; i++ {
		m.Set(fmt.Sprint("k", i), i)
		m.Set(fmt.Sprint("k", i), i) // twice: still once
		if m.Len() != i+1 {
			t.Fatalf("after %d sets Len %d", i+1, m.Len())
		}
		if i == Small-1 && m.many != nil {
			t.Fatal("map made before the slice was full")
		}
	}
	m.Set("k3", 99)
	if v, ok := m.Get("k3"); !ok || v != 99 || m.Len() != n {
		t.Fatalf("overwrite: %v %v Len %d", v, ok, m.Len())
	}
	m.Delete("k4")
	m.Delete("nope")
	if _, ok := m.Get("k4"); ok || m.Len() != n-1 {
		t.Fatal("Delete did not remove k4")
	}
	m.Keep(func(_ string, v *int) bool { *v++; return *v%2 == 0 })
	if m.Any(func(v *int) bool { return *v%2 != 0 }) {
		t.Fatal("Keep kept an entry it was told to drop")
	}
	if len(m.Keys()) != m.Len() {
		t.Fatal("Keys and Len disagree")
	}
}

func TestMapSmall(t *testing.T) {
	var m Map[struct{}]
	for _, k := range []string{"a", "b", "c"} {
		m.Set(k, struct{}{})
	}
	m.Delete("a")
	keys := m.Keys()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"b", "c"}) {
		t.Fatalf("keys %v", keys)
	}
	m.Keep(func(string, *struct{}) bool { return false })
	if m.Len() != 0 || m.few != nil {
		t.Fatal("an emptied map keeps its slice")
	}
}
