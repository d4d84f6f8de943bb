// Package registrytest is the contract test suite of the registry, one per
// role (registry.Sessions, registry.Dyes): every implementation passes the
// suite of each role it plays, the in-memory one always, Redis against a
// real server. Run runs both against a registry.Registry.
//
// Time moves only through the Config.Now the suite passes to the factory,
// starting at the real time of day: implementations judge the expiry of
// remembered device rooms by that clock (store-side TTLs, if any, may only
// be a safety net at least as long as the logical one). Session times are
// whole milliseconds, and compared with time.Time.Equal.
package registrytest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"courier/router/registry"
	"courier/router/testkit"
)

// Factory returns a fresh, empty Registry built from cfg, isolated from every
// other test (e.g. a unique Redis key prefix) and cleaned up with t.Cleanup.
// SessionsFactory and DyesFactory are the same for one role.
type (
	Factory         func(t *testing.T, cfg registry.Config) registry.Registry
	SessionsFactory func(t *testing.T, cfg registry.Config) registry.Sessions
	DyesFactory     func(t *testing.T, cfg registry.Config) registry.Dyes
)

// Run runs the suite of every role against the implementation newRegistry
// builds. Subtests run in parallel, each with its own Registry and clock.
func Run(t *testing.T, newRegistry Factory) {
	RunSessions(t, func(t *testing.T, cfg registry.Config) registry.Sessions { return newRegistry(t, cfg) })
	RunDyes(t, func(t *testing.T, cfg registry.Config) registry.Dyes { return newRegistry(t, cfg) })
}

// RunSessions runs the suite of registry.Sessions against the
// implementation newSessions builds. Subtests run in parallel, each with its
// own store and clock.
func RunSessions(t *testing.T, newSessions SessionsFactory) {
	tests := []struct {
		name string
		fn   func(*testing.T, SessionsFactory)
	}{
		{"AddRemove", testAddRemove},
		{"RemoveMany", testRemoveMany},
		{"Replace", testReplace},
		{"UserSessions", testUserSessions},
		{"RoomJoinLeave", testRoomJoinLeave},
		{"JoinNotLive", testJoinNotLive},
		{"RemoveLeavesRooms", testRemoveLeavesRooms},
		{"RememberRoom", testRememberRoom},
		{"DeviceRoomTTL", testDeviceRoomTTL},
		{"DevicesPerUser", testDevicesPerUser},
		{"NodeSessions", testNodeSessions},
		{"Arrive", testArrive},
		{"PurgeNode", testPurgeNode},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newSessions)
		})
	}
}

// harness is one Sessions with its clock and terse, failing-fast helpers.
type harness struct {
	t     *testing.T
	r     registry.Sessions
	clk   *testkit.Clock
	ctx   context.Context
	mu    sync.Mutex
	nodes map[string]bool // every node a session was added on, for wantNodes
}

func (h *harness) used(node string) {
	h.mu.Lock()
	h.nodes[node] = true
	h.mu.Unlock()
}

func setup(t *testing.T, newSessions SessionsFactory, cfg registry.Config) *harness {
	t.Helper()
	clk := testkit.NewClock()
	cfg.Now = clk.Now
	return &harness{t: t, r: newSessions(t, cfg), clk: clk, ctx: t.Context(), nodes: map[string]bool{"never-used": true}}
}

// session builds a session connected now.
func (h *harness) session(id, user, device, node string) registry.Session {
	h.used(node)
	return registry.Session{ID: id, User: user, Device: device, Node: node, ConnectedAt: h.clk.Now()}
}

func (h *harness) add(ss ...registry.Session) {
	h.t.Helper()
	for _, s := range ss {
		h.used(s.Node)
		if err := h.r.Add(h.ctx, s); err != nil {
			h.t.Fatalf("Add(%+v): %v", s, err)
		}
	}
}

func (h *harness) remove(ss ...registry.Session) {
	h.t.Helper()
	if err := h.r.Remove(h.ctx, ss...); err != nil {
		h.t.Fatalf("Remove(%d sessions): %v", len(ss), err)
	}
}

func (h *harness) join(room string, ss ...registry.Session) {
	h.t.Helper()
	for _, s := range ss {
		if err := h.r.Join(h.ctx, room, s); err != nil {
			h.t.Fatalf("Join(%q, %q): %v", room, s.ID, err)
		}
	}
}

func (h *harness) leave(room string, s registry.Session) {
	h.t.Helper()
	if err := h.r.Leave(h.ctx, room, s); err != nil {
		h.t.Fatalf("Leave(%q, %q): %v", room, s.ID, err)
	}
}

// wantUser checks UserSessions, in any order.
func (h *harness) wantUser(user string, want ...registry.Session) {
	h.t.Helper()
	got, err := h.r.UserSessions(h.ctx, user)
	if err != nil {
		h.t.Fatalf("UserSessions(%q): %v", user, err)
	}
	byID := func(a, b registry.Session) int { return strings.Compare(a.ID, b.ID) }
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortFunc(got, byID)
	slices.SortFunc(want, byID)
	if !slices.EqualFunc(got, want, sameSession) {
		h.t.Fatalf("UserSessions(%q) = %+v; want %+v", user, got, want)
	}
}

// wantRoom checks Room; nodes in any order.
func (h *harness) wantRoom(room string, members int, nodes ...string) {
	h.t.Helper()
	n, got, err := h.r.Room(h.ctx, room)
	if err != nil {
		h.t.Fatalf("Room(%q): %v", room, err)
	}
	got = slices.Sorted(slices.Values(got))
	slices.Sort(nodes)
	if n != members || !slices.Equal(got, nodes) {
		h.t.Fatalf("Room(%q) = %d, %v; want %d, %v", room, n, got, members, nodes)
	}
	perNode, err := h.r.RoomNodes(h.ctx, room)
	if err != nil {
		h.t.Fatalf("RoomNodes(%q): %v", room, err)
	}
	sum := 0
	for _, c := range perNode {
		sum += c
	}
	if keys := slices.Sorted(maps.Keys(perNode)); sum != members || !slices.Equal(keys, nodes) {
		h.t.Fatalf("RoomNodes(%q) = %v; want %d members over %v", room, perNode, members, nodes)
	}
}

func (h *harness) remember(user, device, room string, joined bool) {
	h.t.Helper()
	if err := h.r.RememberRoom(h.ctx, user, device, room, joined); err != nil {
		h.t.Fatalf("RememberRoom(%q, %q, %q, %v): %v", user, device, room, joined, err)
	}
}

// wantDeviceRooms checks DeviceRooms, in any order.
func (h *harness) wantDeviceRooms(user, device string, want ...string) {
	h.t.Helper()
	got, err := h.r.DeviceRooms(h.ctx, user, device)
	if err != nil {
		h.t.Fatalf("DeviceRooms(%q, %q): %v", user, device, err)
	}
	got = slices.Sorted(slices.Values(got))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		h.t.Fatalf("DeviceRooms(%q, %q) = %v; want %v", user, device, got, want)
	}
}

// wantNodes checks NodeSessions of every node the test used, and KeepNode
// of each.
func (h *harness) wantNodes(want map[string]int) {
	h.t.Helper()
	h.mu.Lock()
	nodes := slices.Sorted(maps.Keys(h.nodes))
	h.mu.Unlock()
	got, err := h.r.NodeSessions(h.ctx, nodes)
	if err != nil {
		h.t.Fatalf("NodeSessions: %v", err)
	}
	if !maps.Equal(got, want) {
		h.t.Fatalf("NodeSessions(%v) = %v; want %v", nodes, got, want)
	}
	for _, node := range nodes {
		if n, err := h.r.KeepNode(h.ctx, node); err != nil || n != want[node] {
			h.t.Fatalf("KeepNode(%q) = %d, %v; want %d", node, n, err, want[node])
		}
	}
}

func (h *harness) purge(node string, want int) {
	h.t.Helper()
	n, err := h.r.PurgeNode(h.ctx, node)
	if err != nil {
		h.t.Fatalf("PurgeNode(%q): %v", node, err)
	}
	if n != want {
		h.t.Fatalf("PurgeNode(%q) = %d; want %d", node, n, want)
	}
}

func sameSession(a, b registry.Session) bool {
	return a.ID == b.ID && a.User == b.User && a.Device == b.Device && a.Node == b.Node &&
		a.ConnectedAt.Equal(b.ConnectedAt)
}
