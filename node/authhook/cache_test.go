package authhook

import (
	"testing"
	"time"
)

// Answers cached for many credentials stay within the bound: the ended go
// first, then enough others.
func TestCacheStaysBounded(t *testing.T) {
	c := newCache(100)
	now := time.Now()
	for i := range 1000 {
		var k [32]byte
		k[0], k[1] = byte(i), byte(i>>8)
		end := now.Add(time.Minute)
		if i%2 == 0 {
			end = now.Add(-time.Second) // already ended
		}
		c.put(k, Answer{User: "u"}, now, end)
		if c.len() > 100 {
			t.Fatalf("%d answers kept after %d, bound 100", c.len(), i+1)
		}
	}
	var last [32]byte
	last[0], last[1] = 999&0xff, 999>>8
	if _, ok := c.get(last, now); !ok {
		t.Fatal("the newest answer was dropped")
	}
}
