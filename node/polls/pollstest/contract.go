package pollstest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"courier/node/push"
)

func testTasksCRUD(t *testing.T, h *harness) {
	if _, ok, err := h.s.Get(h.ctx, "a"); ok || err != nil {
		t.Fatalf("Get of nothing = %v, %v", ok, err)
	}
	h.put(task("b"), true)
	h.put(task("a"), true)
	h.put(task("a"), false)
	list, err := h.s.List(h.ctx)
	if err != nil || len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" {
		t.Fatalf("List = %+v, %v; want a, b", list, err)
	}
	if existed, err := h.s.Delete(h.ctx, "a"); !existed || err != nil {
		t.Fatalf("Delete(a) = %v, %v", existed, err)
	}
	if existed, err := h.s.Delete(h.ctx, "a"); existed || err != nil {
		t.Fatalf("Delete(a) again = %v, %v", existed, err)
	}
	if _, ok, _ := h.s.Get(h.ctx, "a"); ok {
		t.Fatal("Get(a) after Delete found it")
	}
	if list, _ := h.s.List(h.ctx); len(list) != 1 {
		t.Fatalf("List after Delete = %+v", list)
	}
}

func testTaskRoundTrip(t *testing.T, h *harness) {
	ttl := 2.5
	want := task("full")
	want.Data = json.RawMessage(`{"q":[1,2]}`)
	want.Interval = 90 * time.Second
	want.To = push.Target{Users: []string{"u1", "u2"}, Rooms: []string{"r"}}
	want.TTL = &ttl
	h.put(want, true)
	got, ok, err := h.s.Get(h.ctx, "full")
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("Get = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	got.To.Users[0] = "changed" // results are copies
	if again, _, _ := h.s.Get(h.ctx, "full"); again.To.Users[0] != "u1" {
		t.Fatal("changing a Get result changed the store")
	}
}

func testReplace(t *testing.T, h *harness) {
	h.put(task("a"), true)
	tok := h.acquire("a", "n1", time.Minute, true)
	h.setResult("a", tok, "h1", true)
	h.put(task("a"), false) // the same task again: nothing changes
	h.wantResult("a", "h1")
	changed := task("a")
	changed.Event = "other"
	h.put(changed, false)
	h.wantResult("a", "") // forgotten: the changed task pushes its next answer
	h.wantHolder("a", "n1")
	h.setResult("a", tok, "h2", true) // the lease stayed
}

func testLeaseExclusive(t *testing.T, h *harness) {
	h.acquire("nope", "n1", time.Second, false) // no such task
	h.put(task("a"), true)
	tok := h.acquire("a", "n1", time.Second, true)
	h.acquire("a", "n2", time.Second, false)
	h.renew("a", "n1", tok, time.Second, true)
	h.renew("a", "n2", tok, time.Second, false)   // someone else's lease
	h.renew("a", "n1", tok+1, time.Second, false) // wrong token
	h.wantHolder("a", "n1")
}

func testLeaseExpiry(t *testing.T, h *harness) {
	h.put(task("a"), true)
	t1 := h.acquire("a", "n1", time.Second, true)
	h.clk.Advance(999 * time.Millisecond)
	h.acquire("a", "n2", time.Second, false)
	h.wantHolder("a", "n1")
	h.clk.Advance(time.Millisecond)
	h.wantHolder("a", "")
	t2 := h.acquire("a", "n2", time.Second, true)
	if t2 <= t1 {
		t.Fatalf("token after takeover %d <= %d", t2, t1)
	}
	h.renew("a", "n1", t1, time.Second, false) // taken: the old holder cannot renew
	h.wantHolder("a", "n2")
	// Renewing moves the expiry from now.
	h.clk.Advance(900 * time.Millisecond)
	h.renew("a", "n2", t2, time.Second, true)
	h.clk.Advance(900 * time.Millisecond)
	h.acquire("a", "n1", time.Second, false)
	h.wantHolder("a", "n2")
}

func testRenewExpiredUntaken(t *testing.T, h *harness) {
	h.put(task("a"), true)
	tok := h.acquire("a", "n1", time.Second, true)
	h.clk.Advance(5 * time.Second)
	h.renew("a", "n1", tok, time.Second, true) // nobody took it: still ours
	h.acquire("a", "n2", time.Second, false)
	h.setResult("a", tok, "h", true)
}

func testRelease(t *testing.T, h *harness) {
	h.put(task("a"), true)
	tok := h.acquire("a", "n1", time.Minute, true)
	if err := h.s.Release(h.ctx, "a", "n2", tok); err != nil { // not n2's: ignored
		t.Fatal(err)
	}
	if err := h.s.Release(h.ctx, "a", "n1", tok+1); err != nil { // wrong token: ignored
		t.Fatal(err)
	}
	h.wantHolder("a", "n1")
	if err := h.s.Release(h.ctx, "a", "n1", tok); err != nil {
		t.Fatal(err)
	}
	h.wantHolder("a", "")
	h.setResult("a", tok, "h", false) // released: the token no longer writes
	h.renew("a", "n1", tok, time.Minute, false)
	t2 := h.acquire("a", "n2", time.Minute, true)
	if t2 <= tok {
		t.Fatalf("token %d after release <= %d", t2, tok)
	}
}

func testTokensIncrease(t *testing.T, h *harness) {
	var last uint64
	next := func(name, node string) {
		t.Helper()
		tok := h.acquire(name, node, time.Second, true)
		if tok <= last {
			t.Fatalf("token %d not above %d", tok, last)
		}
		last = tok
	}
	h.put(task("a"), true)
	h.put(task("b"), true)
	next("a", "n1")
	next("b", "n1")
	h.clk.Advance(time.Second)
	next("a", "n2")
	if _, err := h.s.Delete(h.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	h.put(task("a"), true) // re-created: tokens still grow
	next("a", "n3")
}

func testSameNodeReacquires(t *testing.T, h *harness) {
	h.put(task("a"), true)
	t1 := h.acquire("a", "n1", time.Minute, true)
	t2 := h.acquire("a", "n1", time.Minute, true) // e.g. n1 restarted
	if t2 <= t1 {
		t.Fatalf("re-acquired token %d <= %d", t2, t1)
	}
	h.setResult("a", t1, "old", false)
	h.renew("a", "n1", t1, time.Minute, false)
	h.setResult("a", t2, "new", true)
}

func testStaleTokenRefused(t *testing.T, h *harness) {
	h.put(task("a"), true)
	t1 := h.acquire("a", "n1", time.Second, true)
	h.setResult("a", t1, "h1", true)
	h.clk.Advance(2 * time.Second) // n1 pauses past its lease
	t2 := h.acquire("a", "n2", time.Second, true)
	h.setResult("a", t1, "stale", false)
	r := h.wantResult("a", "h1")
	if r.Token != t1 {
		t.Fatalf("result token %d, want %d", r.Token, t1)
	}
	h.setResult("a", t2, "h2", true)
	h.setResult("a", t1, "stale", false)
	if r := h.wantResult("a", "h2"); r.Token != t2 {
		t.Fatalf("result token %d, want %d", r.Token, t2)
	}
	h.setResult("nope", t2, "h", false) // no such task
}

func testResultTimes(t *testing.T, h *harness) {
	h.put(task("a"), true)
	tok := h.acquire("a", "n1", time.Hour, true)
	t0 := h.clk.Now()
	h.setResult("a", tok, "h1", true)
	h.clk.Advance(time.Second)
	h.setResult("a", tok, "h1", true) // same answer: ran, did not change
	r := h.wantResult("a", "h1")
	if !r.Changed.Equal(t0) || !r.At.Equal(t0.Add(time.Second)) {
		t.Fatalf("result %+v; want changed %v, at %v", r, t0, t0.Add(time.Second))
	}
	h.clk.Advance(time.Second)
	h.setResult("a", tok, "h2", true)
	if r := h.wantResult("a", "h2"); !r.Changed.Equal(r.At) || !r.At.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("result after a change %+v", r)
	}
}

func testDelete(t *testing.T, h *harness) {
	h.put(task("a"), true)
	tok := h.acquire("a", "n1", time.Hour, true)
	h.setResult("a", tok, "h", true)
	if _, err := h.s.Delete(h.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	h.wantHolder("a", "")
	h.wantResult("a", "")
	h.renew("a", "n1", tok, time.Hour, false) // a deleted task stops its holder
	h.setResult("a", tok, "h", false)
	h.acquire("a", "n2", time.Hour, false)
	h.put(task("a"), true)
	h.wantResult("a", "") // a re-created task starts with no result
}

// testConcurrentAcquire: many nodes race for each task; exactly one wins.
func testConcurrentAcquire(t *testing.T, h *harness) {
	const tasks, nodes = 10, 8
	for i := range tasks {
		h.put(task(fmt.Sprint("t", i)), true)
	}
	for i := range tasks {
		name := fmt.Sprint("t", i)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []string
		start := make(chan struct{})
		for n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				node := fmt.Sprint("n", n)
				_, ok, err := h.s.Acquire(h.ctx, name, node, time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					winners = append(winners, node)
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("task %s: winners %v; want exactly one", name, winners)
		}
		h.wantHolder(name, winners[0])
	}
}
