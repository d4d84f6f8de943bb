package registrytest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"courier/router/registry"
)

func testRoomJoinLeave(t *testing.T, f SessionsFactory) {
	h := setup(t, f, registry.Config{})
	h.wantRoom("r", 0)
	s1 := h.session("s1", "alice", "phone", "n1")
	s2 := h.session("s2", "bob", "phone", "n2")
	s3 := h.session("s3", "carol", "phone", "n1")
	h.add(s1, s2, s3)

	h.join("r", s1)
	h.join("r", s1) // idempotent
	h.wantRoom("r", 1, "n1")
	h.join("r", s2, s3)
	h.wantRoom("r", 3, "n1", "n2") // each node once
	h.join("{r}", s2)              // braces must not break a store's key hashing
	h.wantRoom("{r}", 1, "n2")
	h.wantRoom("r", 3, "n1", "n2")

	h.leave("r", s1)
	h.leave("r", s1) // idempotent
	h.wantRoom("r", 2, "n1", "n2")
	h.leave("r", s2)
	h.wantRoom("r", 1, "n1")
	h.leave("never-joined", s3)
	h.leave("r", s3)
	h.wantRoom("r", 0)
	h.join("r", s1) // rejoin after leaving
	h.wantRoom("r", 1, "n1")
	h.wantRoom("{r}", 1, "n2")
}

func testJoinNotLive(t *testing.T, f SessionsFactory) {
	h := setup(t, f, registry.Config{})
	ghost := h.session("ghost", "alice", "phone", "n1")
	h.join("r", ghost) // never added
	h.wantRoom("r", 0)
	h.add(ghost)
	h.remove(ghost)
	h.join("r", ghost) // already removed
	h.wantRoom("r", 0)
	h.add(ghost) // a new session with that id starts in no room
	h.wantRoom("r", 0)
}

func testRemoveLeavesRooms(t *testing.T, f SessionsFactory) {
	h := setup(t, f, registry.Config{})
	s1 := h.session("s1", "alice", "phone", "n1")
	s2 := h.session("s2", "bob", "phone", "n2")
	h.add(s1, s2)
	h.join("a", s1, s2)
	h.join("b", s1)
	h.remove(s1)
	h.wantRoom("a", 1, "n2")
	h.wantRoom("b", 0)
	h.add(s1) // back with the same id: no memberships survive Remove
	h.wantRoom("b", 0)
}

func testRememberRoom(t *testing.T, f SessionsFactory) {
	h := setup(t, f, registry.Config{})
	h.wantDeviceRooms("alice", "phone")
	h.remember("alice", "phone", "r1", true)
	h.remember("alice", "phone", "r2", true)
	h.remember("alice", "phone", "r2", true) // idempotent
	h.remember("alice", "laptop", "r3", true)
	h.remember("bob", "phone", "r4", true)     // same device name, other user
	h.remember("alice", "", "r5", true)        // no device id is a device too
	h.remember("{alice}", "{p}", "{r6}", true) // braces must not break key hashing
	h.wantDeviceRooms("alice", "phone", "r1", "r2")
	h.wantDeviceRooms("alice", "laptop", "r3")
	h.wantDeviceRooms("bob", "phone", "r4")
	h.wantDeviceRooms("alice", "", "r5")
	h.wantDeviceRooms("{alice}", "{p}", "{r6}")

	h.remember("alice", "phone", "r1", false)
	h.remember("alice", "phone", "r1", false)    // idempotent
	h.remember("alice", "phone", "never", false) // never remembered: no error
	h.remember("carol", "x", "r", false)         // unknown device: no error
	h.wantDeviceRooms("alice", "phone", "r2")
	h.remember("alice", "phone", "r2", false)
	h.wantDeviceRooms("alice", "phone")
	h.wantDeviceRooms("alice", "laptop", "r3")
}

func testDeviceRoomTTL(t *testing.T, f SessionsFactory) {
	const ttl = time.Hour
	h := setup(t, f, registry.Config{DeviceTTL: ttl})
	h.remember("alice", "phone", "r1", true)
	h.remember("alice", "phone", "r2", true)
	h.remember("bob", "phone", "r1", true)

	h.clk.Advance(ttl - time.Minute)
	h.wantDeviceRooms("alice", "phone", "r1", "r2") // reading is no refresh
	h.remember("alice", "phone", "r3", true)        // a join refreshes the device's rooms
	h.remember("alice", "phone", "r2", false)       // a leave does not
	h.clk.Advance(time.Minute)
	h.wantDeviceRooms("bob", "phone") // idle for ttl: forgotten
	h.wantDeviceRooms("alice", "phone", "r1", "r3")

	h.clk.Advance(ttl - time.Minute)
	h.wantDeviceRooms("alice", "phone")
	h.remember("alice", "phone", "r4", true) // starts afresh
	h.wantDeviceRooms("alice", "phone", "r4")
}

// testConcurrent: racing connects, joins and disconnects leave consistent
// counts (run under -race).
func testConcurrent(t *testing.T, f SessionsFactory) {
	const workers, each = 8, 25
	h := setup(t, f, registry.Config{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			node := fmt.Sprintf("n%d", w%2)
			for i := range each {
				s := h.session(fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("u%d", w), "d", node)
				for _, err := range []error{
					h.r.Add(h.ctx, s),
					h.r.Join(h.ctx, "shared", s),
					h.r.RememberRoom(h.ctx, s.User, s.Device, fmt.Sprint("r", i), true),
				} {
					if err != nil {
						t.Errorf("session %s: %v", s.ID, err)
					}
				}
				if i%2 == 1 { // every other session disconnects again
					if err := h.r.Remove(h.ctx, s); err != nil {
						t.Errorf("Remove(%s): %v", s.ID, err)
					}
				}
				if _, _, err := h.r.Room(h.ctx, "shared"); err != nil {
					t.Errorf("Room: %v", err)
				}
			}
		})
	}
	wg.Wait()
	const kept = (each + 1) / 2 // per worker: the even-numbered sessions
	h.wantRoom("shared", workers*kept, "n0", "n1")
	h.wantNodes(map[string]int{"n0": workers / 2 * kept, "n1": workers / 2 * kept})
	sessions, err := h.r.UserSessions(h.ctx, "u0")
	if err != nil || len(sessions) != kept {
		t.Fatalf("UserSessions(u0) = %d sessions, %v; want %d", len(sessions), err, kept)
	}
	rooms, err := h.r.DeviceRooms(h.ctx, "u0", "d")
	if err != nil || len(rooms) != each {
		t.Fatalf("DeviceRooms(u0, d) = %d rooms, %v; want %d", len(rooms), err, each)
	}
}

// testDevicesPerUser: past MaxDevicesPerUser, remembering a room for a new
// device forgets the user's least recently joined device; a device whose
// rooms are all left frees its place; users do not share the bound.
func testDevicesPerUser(t *testing.T, f SessionsFactory) {
	h := setup(t, f, registry.Config{MaxDevicesPerUser: 2})
	join := func(device, room string) {
		h.t.Helper()
		h.clk.Advance(time.Second)
		h.remember("alice", device, room, true)
	}
	join("d1", "a")
	join("d2", "b")
	h.remember("bob", "b1", "x", true) // bob's devices are his own
	h.remember("bob", "b2", "x", true)
	join("d3", "c") // a third device: d1 goes
	h.wantDeviceRooms("alice", "d1")
	h.wantDeviceRooms("alice", "d2", "b")
	h.wantDeviceRooms("alice", "d3", "c")
	join("d2", "b2") // d2 joined again: now d3 is the least recent
	join("d4", "d")
	h.wantDeviceRooms("alice", "d3")
	h.wantDeviceRooms("alice", "d2", "b", "b2")
	h.wantDeviceRooms("alice", "d4", "d")
	h.clk.Advance(time.Second)
	h.remember("alice", "d4", "d", false) // its last room left: its place is free
	join("d5", "e")
	h.wantDeviceRooms("alice", "d2", "b", "b2")
	h.wantDeviceRooms("alice", "d5", "e")
	h.wantDeviceRooms("bob", "b1", "x")
	h.wantDeviceRooms("bob", "b2", "x")
}
