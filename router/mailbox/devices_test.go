package mailbox

import (
	"fmt"
	"testing"
)

// The set behaves the same below and above smallDevices, and across the
// switch from slice to map.
func TestDeviceSetSmallAndLarge(t *testing.T) {
	var ds deviceSet
	n := 3 * smallDevices
	for i := 0; i < n; i++ {
		ds.set(fmt.Sprint("d", i), device{low: uint64(i)})
		if ds.len() != i+1 {
			t.Fatalf("after %d sets len %d", i+1, ds.len())
		}
		if i == smallDevices-1 && ds.many != nil {
			t.Fatal("map made before the slice was full")
		}
	}
	ds.set("d3", device{low: 99}) // overwrite, not add
	if d, ok := ds.get("d3"); !ok || d.low != 99 || ds.len() != n {
		t.Fatalf("overwrite: %v %v len %d", d, ok, ds.len())
	}
	ds.del("d4")
	if _, ok := ds.get("d4"); ok || ds.len() != n-1 {
		t.Fatal("del did not remove d4")
	}
	ds.each(func(name string, d *device) bool { d.low++; return d.low%2 == 0 })
	if ds.any(func(d *device) bool { return d.low%2 != 0 }) {
		t.Fatal("each kept a device it was told to drop")
	}

	var small deviceSet
	small.set("a", device{low: 1})
	small.set("b", device{low: 2})
	small.set("c", device{low: 3})
	small.del("a")
	if _, ok := small.get("a"); ok || small.len() != 2 {
		t.Fatal("small del")
	}
	if d, _ := small.get("c"); d.low != 3 {
		t.Fatalf("c moved wrong: %v", d)
	}
	small.each(func(string, *device) bool { return false })
	if small.len() != 0 || small.few != nil {
		t.Fatal("emptied set keeps its slice")
	}
}
