package arrival_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"courier/router/arrival"
	"courier/router/mailbox"
	"courier/router/redistest"
	"courier/router/registry"
)

type stores struct {
	reg     registry.Sessions
	log     mailbox.Log
	arrival arrival.Store
}

func memoryStores(t *testing.T) stores {
	reg, log := registry.NewMemory(registry.Config{}), mailbox.NewMemory(mailbox.Config{})
	t.Cleanup(reg.Close)
	t.Cleanup(log.Close)
	return stores{reg, log, arrival.New(reg, log)}
}

func redisStores(c redis.UniversalClient, prefix string) stores {
	reg := registry.NewRedis(c, registry.Config{}, prefix)
	log := mailbox.NewRedis(c, mailbox.Config{}, prefix)
	return stores{reg, log, arrival.NewRedis(c, reg, log)}
}

func TestMemory(t *testing.T) { testArrival(t, memoryStores(t), nil) }

func TestRedis(t *testing.T) {
	c := redistest.Client(t, "redis://"+redistest.StartServer(t))
	rt := &redistest.RoundTrips{}
	c.AddHook(rt)
	testArrival(t, redisStores(c, "arrival"), rt)

	// A server that lost the scripts (restarted): loaded, and the batch sent again.
	if err := c.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	st := redisStores(c, "flushed")
	s := registry.Session{ID: "s9", User: "carol", Device: "d", Node: "n1", ConnectedAt: time.UnixMilli(1)}
	if _, got, err := st.arrival.Arrive(t.Context(), s, 10, []arrival.Read{{Stream: mailbox.AllStream, Device: "d"}}); err != nil || got[0].Err != nil {
		t.Fatalf("Arrive after SCRIPT FLUSH: %v %v", err, got[0].Err)
	}
}

func TestRedisCluster(t *testing.T) {
	c := redistest.Client(t, "redis-cluster://"+strings.Join(redistest.StartCluster(t), ","))
	testArrival(t, redisStores(c, "arrival"), nil) // users, rooms and streams on different masters
}

// testArrival: Arrive registers the session, returns its device's rooms
// and reads its streams; Enter makes it a member and reads the rooms. With
// rt, each is one round trip.
func testArrival(t *testing.T, st stores, rt *redistest.RoundTrips) {
	ctx := t.Context()
	now := time.Now()
	msg := func(id string) mailbox.Message {
		return mailbox.Message{ID: id, Event: "e", Data: []byte(`{}`), TS: now.UnixMilli(), Expires: now.Add(time.Hour).UnixMilli()}
	}
	for _, room := range []string{"b", "a"} {
		if err := st.reg.RememberRoom(ctx, "alice", "phone", room, true); err != nil {
			t.Fatal(err)
		}
	}
	for stream, id := range map[mailbox.Stream]string{mailbox.UserStream("alice"): "u1", mailbox.RoomStream("a"): "r1"} {
		if _, _, err := st.log.Append(ctx, stream, msg(id)); err != nil {
			t.Fatal(err)
		}
	}
	s := registry.Session{ID: "s1", User: "alice", Device: "phone", Node: "n1", ConnectedAt: time.UnixMilli(now.UnixMilli())}
	reads := []arrival.Read{{Stream: mailbox.UserStream("alice"), Device: "phone", Limit: 10}, {Stream: mailbox.AllStream, Device: "phone", Limit: 10}}
	trips := func() int64 {
		if rt == nil {
			return 0
		}
		return rt.Reset()
	}
	// a first arrival loads the scripts (a server's first EVALSHA misses)
	warm := registry.Session{ID: "w", User: "warm", Device: "d", Node: "n1"}
	if _, _, err := st.arrival.Arrive(ctx, warm, 10, reads); err != nil {
		t.Fatal(err)
	}
	if _, err := st.arrival.Enter(ctx, warm, []string{"w"}, reads); err != nil {
		t.Fatal(err)
	}
	trips()
	arrived, got, err := st.arrival.Arrive(ctx, s, 10, reads)
	rooms := arrived.Rooms
	if n := trips(); rt != nil && n != 1 {
		t.Errorf("Arrive took %d round trips; want 1", n)
	}
	if err != nil || !slices.Equal(rooms, []string{"a", "b"}) || len(got) != 2 {
		t.Fatalf("Arrive = %v, %d results, %v", rooms, len(got), err)
	}
	if got[0].Err != nil || len(got[0].Msgs) != 1 || got[0].Msgs[0].ID != "u1" || got[1].Err != nil || len(got[1].Msgs) != 0 {
		t.Fatalf("Arrive's reads = %+v", got)
	}
	if ss, err := st.reg.UserSessions(ctx, "alice"); err != nil || len(ss) != 1 || ss[0].ID != "s1" {
		t.Fatalf("UserSessions after Arrive = %+v, %v", ss, err)
	}

	trips()
	trips()
	got, err = st.arrival.Enter(ctx, s, rooms, []arrival.Read{{Stream: mailbox.RoomStream("a"), Device: "phone"}, {Stream: mailbox.RoomStream("b"), Device: "phone"}})
	if n := trips(); rt != nil && n != 1 {
		t.Errorf("Enter took %d round trips; want 1", n)
	}
	if err != nil || got[0].Err != nil || len(got[0].Msgs) != 1 || got[0].Msgs[0].ID != "r1" || len(got[1].Msgs) != 0 {
		t.Fatalf("Enter = %+v, %v", got, err)
	}
	for _, room := range rooms {
		if n, nodes, err := st.reg.Room(ctx, room); err != nil || n != 1 || !slices.Equal(nodes, []string{"n1"}) {
			t.Fatalf("Room(%s) after Enter = %d %v %v", room, n, nodes, err)
		}
	}
	if err := st.reg.Remove(ctx, s); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := st.reg.Room(ctx, "a"); n != 0 {
		t.Fatalf("room a keeps %d members after Remove", n)
	}
}

// TestRedisDown: every result says the store is unavailable, nothing hangs.
func TestRedisDown(t *testing.T) {
	c := redistest.Unreachable(t)
	st := redisStores(c, "down")
	s := registry.Session{ID: "s", User: "u", Node: "n"}
	_, got, err := st.arrival.Arrive(t.Context(), s, 10, []arrival.Read{{Stream: mailbox.AllStream, Device: "d"}})
	if !errors.Is(err, registry.ErrUnavailable) || !errors.Is(got[0].Err, mailbox.ErrUnavailable) {
		t.Fatalf("Arrive with Redis down: %v, %v", err, got[0].Err)
	}
	got, err = st.arrival.Enter(t.Context(), s, []string{"r"}, []arrival.Read{{Stream: mailbox.RoomStream("r"), Device: "d"}})
	if !errors.Is(err, registry.ErrUnavailable) || !errors.Is(got[0].Err, mailbox.ErrUnavailable) {
		t.Fatalf("Enter with Redis down: %v, %v", err, got[0].Err)
	}
}

// Arrivals under way together share pipelines, and each still gets its
// own answers.
func TestRedisBatchesConcurrentArrivals(t *testing.T) {
	c := redistest.Client(t, "redis://"+redistest.StartServer(t))
	rt := &redistest.RoundTrips{}
	c.AddHook(rt)
	st := redisStores(c, "batch")
	ctx := t.Context()
	const n = 300
	for i := range n {
		if i%2 == 0 { // every other user has a message waiting and a room
			user := fmt.Sprint("u", i)
			if _, _, err := st.log.Append(ctx, mailbox.UserStream(user), mailbox.Message{ID: "m" + user, Expires: time.Now().Add(time.Hour).UnixMilli()}); err != nil {
				t.Fatal(err)
			}
			if err := st.reg.RememberRoom(ctx, user, "d", "room"+user, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	warm := registry.Session{ID: "w", User: "warm", Node: "n1"}
	if _, _, err := st.arrival.Arrive(ctx, warm, 1, []arrival.Read{{Stream: mailbox.AllStream, Device: "d"}}); err != nil {
		t.Fatal(err)
	}
	rt.Reset()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			user := fmt.Sprint("u", i)
			s := registry.Session{ID: fmt.Sprint("s", i), User: user, Device: "d", Node: "n1"}
			arrived, got, err := st.arrival.Arrive(ctx, s, 4, []arrival.Read{{Stream: mailbox.UserStream(user), Device: "d", Limit: 10}})
			rooms := arrived.Rooms
			if err != nil || got[0].Err != nil {
				t.Errorf("%s: %v %v", user, err, got[0].Err)
				return
			}
			wantMsgs, wantRooms := 0, 0
			if i%2 == 0 {
				wantMsgs, wantRooms = 1, 1
			}
			if len(got[0].Msgs) != wantMsgs || len(rooms) != wantRooms || (wantMsgs == 1 && got[0].Msgs[0].ID != "m"+user) {
				t.Errorf("%s got %d messages, rooms %v", user, len(got[0].Msgs), rooms)
			}
		})
	}
	wg.Wait()
	if trips := rt.Count(); trips > n/2 {
		t.Errorf("%d concurrent arrivals took %d round trips; want them batched (at most %d)", n, trips, n/2)
	} else {
		t.Logf("%d concurrent arrivals in %d round trips", n, trips)
	}
	if sessions, _ := st.reg.NodeSessions(ctx, []string{"n1"}); sessions["n1"] != n+1 {
		t.Fatalf("NodeSessions = %v; want %d", sessions, n+1)
	}
}

// An arrival whose caller gave up does not hold back the others.
func TestRedisArrivalGivesUpWithItsContext(t *testing.T) {
	c := redistest.Client(t, "redis://"+redistest.StartServer(t))
	st := redisStores(c, "cancel")
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	s := registry.Session{ID: "s1", User: "u", Device: "d", Node: "n1"}
	if _, _, err := st.arrival.Arrive(gone, s, 1, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Arrive with its context cancelled: %v", err)
	}
	s.ID = "s2"
	if _, _, err := st.arrival.Arrive(t.Context(), s, 1, nil); err != nil {
		t.Fatalf("the next arrival: %v", err)
	}
}
