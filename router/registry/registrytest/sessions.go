package registrytest

import (
	"slices"
	"testing"
	"time"

	"courier/router/registry"
)

func testAddRemove(t *testing.T, f SessionsFactory) {
	h := setup(t, f, registry.Config{})
	h.wantUser("alice")
	s := h.session("s1", "alice", "phone", "n1")
	h.add(s)
	h.wantUser("alice", s)
	h.remove(s)
	h.wantUser("alice")
	h.remove(s)                                            // again: no error
	h.remove(h.session("unknown", "alice", "phone", "n1")) // never added: no error
	h.wantNodes(map[string]int{})
}

// One Remove takes several sessions of several users, nodes and rooms at
// once (a node's batch of departures), unknown ones and duplicates among
// them, and leaves the others alone.
func testRemoveMany(t *testing.T, f SessionsFactory) {
	h := setup(t, f, registry.Config{})
	a1 := h.session("a1", "alice", "phone", "n1")
	a2 := h.session("a2", "alice", "laptop", "n2")
	b1 := h.session("b1", "bob", "phone", "n1")
	c1 := h.session("c1", "carol", "phone", "n1")
	h.add(a1, a2, b1, c1)
	h.join("lobby", a1, b1, c1)
	h.join("game", a2, b1)
	h.remove() // none: no error
	h.remove(a1, b1, h.session("unknown", "dave", "phone", "n1"), a1)
	h.wantUser("alice", a2)
	h.wantUser("bob")
	h.wantUser("carol", c1)
	h.wantRoom("lobby", 1, "n1")
	h.wantRoom("game", 1, "n2")
	h.wantNodes(map[string]int{"n1": 1, "n2": 1})
	h.remove(a2, c1)
	h.wantRoom("lobby", 0)
	h.wantRoom("game", 0)
	h.wantNodes(map[string]int{})
}

func testReplace(t *testing.T, f SessionsFactory) {
	h := setup(t, f, registry.Config{})
	s := h.session("s1", "alice", "phone", "n1")
	h.add(s)
	h.join("room", s)

	h.clk.Advance(time.Second)
	s.Device, s.ConnectedAt = "tablet", h.clk.Now()
	h.add(s) // same id: replaced, not added
	h.wantUser("alice", s)
	h.wantNodes(map[string]int{"n1": 1})
	h.wantRoom("room", 1, "n1")

	s.Node = "n2"
	h.add(s)
	h.wantNodes(map[string]int{"n2": 1})
	h.wantRoom("room", 1, "n2") // membership stays, on the new node
	h.remove(s)
	h.wantRoom("room", 0)
	h.wantNodes(map[string]int{})
}

func testUserSessions(t *testing.T, f SessionsFactory) {
	h := setup(t, f, registry.Config{})
	a1 := h.session("a1", "alice", "phone", "n1")
	h.clk.Advance(time.Millisecond)
	a2 := h.session("a2", "alice", "laptop", "n2")
	a3 := h.session("a3", "alice", "phone", "n2") // a second tab of one device
	b1 := h.session("b1", "bob", "phone", "n1")
	odd := h.session("{x}", "{alice}", "", "n1") // braces must not break a store's key hashing
	h.add(a1, a2, a3, b1, odd)
	h.wantUser("alice", a1, a2, a3)
	h.wantUser("bob", b1)
	h.wantUser("{alice}", odd)
	h.wantUser("carol")
	h.remove(a2)
	h.wantUser("alice", a1, a3)
}

func testNodeSessions(t *testing.T, f SessionsFactory) {
	h := setup(t, f, registry.Config{})
	h.wantNodes(map[string]int{})
	s1, s2, s3 := h.session("s1", "u1", "d", "n1"), h.session("s2", "u2", "d", "n1"), h.session("s3", "u1", "d", "n2")
	h.add(s1, s2, s3)
	h.wantNodes(map[string]int{"n1": 2, "n2": 1})
	h.remove(s3)
	h.wantNodes(map[string]int{"n1": 2}) // n2 has none: left out
	h.remove(s1)
	h.wantNodes(map[string]int{"n1": 1})
}

func testPurgeNode(t *testing.T, f SessionsFactory) {
	h := setup(t, f, registry.Config{})
	a1 := h.session("a1", "alice", "phone", "dead")
	a2 := h.session("a2", "alice", "laptop", "alive")
	b1 := h.session("b1", "bob", "phone", "dead")
	c1 := h.session("c1", "carol", "phone", "alive")
	h.add(a1, a2, b1, c1)
	h.join("lobby", a1, a2, b1, c1)
	h.join("dead-only", a1, b1)
	h.remember("alice", "phone", "lobby", true)

	h.purge("dead", 2)
	h.wantUser("alice", a2)
	h.wantUser("bob")
	h.wantRoom("lobby", 2, "alive")
	h.wantRoom("dead-only", 0)
	h.wantNodes(map[string]int{"alive": 2})
	h.wantDeviceRooms("alice", "phone", "lobby") // kept for the reconnect elsewhere
	h.purge("dead", 0)
	h.purge("never-seen", 0)
	h.join("dead-only", a1) // a late join of a purged session leaves no ghost
	h.wantRoom("dead-only", 0)
}

// testArrive: a new session is registered with its device's remembered
// rooms returned (sorted, bounded) and entered; Remove undoes all of it.
func testArrive(t *testing.T, f SessionsFactory) {
	const ttl = time.Hour
	h := setup(t, f, registry.Config{DeviceTTL: ttl})
	for _, room := range []string{"c", "a", "b"} {
		h.remember("alice", "phone", room, true)
	}
	h.remember("alice", "laptop", "other", true)
	s := h.session("s1", "alice", "phone", "n1")
	arrived, err := h.r.Arrive(h.ctx, s, 2)
	rooms := arrived.Rooms
	if err != nil || !slices.Equal(rooms, []string{"a", "b"}) || arrived.Sessions != 1 {
		t.Fatalf("Arrive = %+v, %v; want [a b] (sorted, at most 2) and 1 session", arrived, err)
	}
	h.wantUser("alice", s)
	h.wantNodes(map[string]int{"n1": 1})
	if err := h.r.Enter(h.ctx, s, rooms); err != nil {
		t.Fatal(err)
	}
	h.wantRoom("a", 1, "n1")
	h.wantRoom("b", 1, "n1")
	h.wantRoom("c", 0)
	h.wantDeviceRooms("alice", "phone", "a", "b", "c") // arriving forgets nothing

	fresh := h.session("s2", "bob", "phone", "n2")
	if a, err := h.r.Arrive(h.ctx, fresh, 10); err != nil || len(a.Rooms) != 0 || a.Sessions != 1 {
		t.Fatalf("Arrive of a device with no rooms = %+v, %v", a, err)
	}
	// A second session of alice's: the count is the user's live sessions.
	tab := h.session("s1b", "alice", "tablet", "n2")
	if a, err := h.r.Arrive(h.ctx, tab, 10); err != nil || a.Sessions != 2 {
		t.Fatalf("alice's second arrival = %+v, %v; want 2 sessions", a, err)
	}
	h.remove(tab)
	h.remove(s)
	h.wantRoom("a", 0)
	h.wantRoom("b", 0)
	h.wantUser("alice")
	h.wantNodes(map[string]int{"n2": 1})

	h.clk.Advance(ttl) // the device's rooms expired
	late := h.session("s3", "alice", "phone", "n1")
	if a, err := h.r.Arrive(h.ctx, late, 10); err != nil || len(a.Rooms) != 0 || a.Sessions != 1 {
		t.Fatalf("Arrive after the device TTL = %+v, %v; want no rooms, 1 session", a, err)
	}
}
