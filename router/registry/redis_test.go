package registry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"courier/router/redistest"
	"courier/router/registry"
	"courier/router/registry/registrytest"
)

// redisFactory gives each test its own key prefix on the shared server.
func redisFactory(c redis.UniversalClient) registrytest.Factory {
	return func(t *testing.T, cfg registry.Config) registry.Registry {
		r := registry.NewRedis(c, cfg, "test:"+t.Name())
		t.Cleanup(r.Close)
		return r
	}
}

// TestRedisContract runs the contract suite against one real redis-server.
func TestRedisContract(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t, "redis://"+redistest.StartServer(t)+"/0")
	registrytest.Run(t, redisFactory(c))
	t.Run("PurgeResumes", func(t *testing.T) { t.Parallel(); testPurgeResumes(t, c) })
	t.Run("PurgeMany", func(t *testing.T) { t.Parallel(); testPurgeMany(t, c) })
	t.Run("JoinRacesRemove", func(t *testing.T) { t.Parallel(); testJoinRacesRemove(t, c) })
}

// TestRedisClusterContract runs the same suite against a 3-master Redis
// Cluster, where sessions, users, rooms and node indexes sit on different
// masters: a script touching two slots would fail with CROSSSLOT.
func TestRedisClusterContract(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t, "redis-cluster://"+strings.Join(redistest.StartCluster(t), ","))
	registrytest.Run(t, redisFactory(c))
	t.Run("PurgeResumes", func(t *testing.T) { t.Parallel(); testPurgeResumes(t, c) })
	t.Run("PurgeMany", func(t *testing.T) { t.Parallel(); testPurgeMany(t, c) })
	t.Run("JoinRacesRemove", func(t *testing.T) { t.Parallel(); testJoinRacesRemove(t, c) })
}

// testPurgeResumes: a Remove whose caller died after marking the session
// dead (round 1 of 3) is finished by the PurgeNode of that caller's node.
func testPurgeResumes(t *testing.T, c redis.UniversalClient) {
	ctx := t.Context()
	prefix := "resume:" + t.Name()
	r := registry.NewRedis(c, registry.Config{}, prefix)
	s := registry.Session{ID: "s1", User: "alice", Device: "d", Node: "n1", ConnectedAt: time.UnixMilli(1)}
	if err := r.Add(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := r.Join(ctx, "lobby", s); err != nil {
		t.Fatal(err)
	}
	// Round 1 of Remove only, as a caller that dies right after it would leave it.
	if err := c.HDel(ctx, "{"+prefix+":u:5:alice}:s", "s1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.Join(ctx, "late", s); err != nil { // dead: joins nothing
		t.Fatal(err)
	}
	if n, _, _ := r.Room(ctx, "late"); n != 0 {
		t.Fatalf("a dead session joined a room: %d members", n)
	}
	if n, err := r.PurgeNode(ctx, "n1"); err != nil || n != 0 {
		t.Fatalf("PurgeNode = %d, %v; want 0 (already dead), nil", n, err)
	}
	if n, _, _ := r.Room(ctx, "lobby"); n != 0 {
		t.Fatalf("lobby keeps %d members after the purge", n)
	}
	if ss, _ := r.UserSessions(ctx, "alice"); len(ss) != 0 {
		t.Fatalf("UserSessions after the purge = %+v", ss)
	}
	if m, _ := r.NodeSessions(ctx, []string{"n1"}); len(m) != 0 {
		t.Fatalf("NodeSessions after the purge = %v", m)
	}
	if keys := keysLike(t, c, "{"+prefix+":*"); len(keys) != 0 {
		t.Fatalf("keys left after the purge: %v", keys)
	}
}

// keysLike lists the keys matching pattern on every master.
func keysLike(t *testing.T, c redis.UniversalClient, pattern string) []string {
	var mu sync.Mutex
	var out []string
	collect := func(ctx context.Context, c *redis.Client) error {
		keys, err := c.Keys(ctx, pattern).Result()
		mu.Lock()
		out = append(out, keys...)
		mu.Unlock()
		return err
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(t.Context(), collect)
	} else {
		err = collect(t.Context(), c.(*redis.Client))
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testPurgeMany: PurgeNode goes through more than one SSCAN batch and
// touches only its node.
func testPurgeMany(t *testing.T, c redis.UniversalClient) {
	ctx := t.Context()
	r := registry.NewRedis(c, registry.Config{}, "many:"+t.Name())
	const n = 700
	for i := range n {
		node := "dead"
		if i%7 == 0 {
			node = "alive"
		}
		s := registry.Session{ID: fmt.Sprint("s", i), User: fmt.Sprint("u", i%50), Node: node}
		if err := r.Add(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := r.Join(ctx, "lobby", s); err != nil {
			t.Fatal(err)
		}
	}
	alive := (n + 6) / 7
	got, err := r.PurgeNode(ctx, "dead")
	if err != nil || got != n-alive {
		t.Fatalf("PurgeNode = %d, %v; want %d", got, err, n-alive)
	}
	if m, _, _ := r.Room(ctx, "lobby"); m != alive {
		t.Fatalf("lobby has %d members; want %d", m, alive)
	}
	if m, _ := r.NodeSessions(ctx, []string{"alive", "dead"}); len(m) != 1 || m["alive"] != alive {
		t.Fatalf("NodeSessions = %v; want alive: %d", m, alive)
	}
}

// testJoinRacesRemove: a Join racing the Remove of its session (an API join
// while the client disconnects) never leaves a ghost member, whichever
// steps interleave across the two slots.
func testJoinRacesRemove(t *testing.T, c redis.UniversalClient) {
	ctx := t.Context()
	r := registry.NewRedis(c, registry.Config{}, "race:"+t.Name())
	const n = 100
	var wg sync.WaitGroup
	for i := range n {
		s := registry.Session{ID: fmt.Sprint("s", i), User: "u", Node: fmt.Sprint("n", i%3)}
		if err := r.Add(ctx, s); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := r.Join(ctx, "room", s); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if err := r.Remove(ctx, s); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if m, nodes, err := r.Room(ctx, "room"); err != nil || m != 0 || len(nodes) != 0 {
		t.Fatalf("Room after racing joins and removes = %d, %v, %v; want 0 members", m, nodes, err)
	}
}

// TestRedisUnavailable: a dead server surfaces as ErrUnavailable.
func TestRedisUnavailable(t *testing.T) {
	t.Parallel()
	c := redistest.Unreachable(t)
	r := registry.NewRedis(c, registry.Config{}, "down")
	ctx := t.Context()
	s := registry.Session{ID: "s", User: "u", Node: "n"}
	checks := map[string]error{}
	checks["Add"] = r.Add(ctx, s)
	checks["Remove"] = r.Remove(ctx, s)
	_, checks["Arrive"] = r.Arrive(ctx, s, 10)
	checks["Enter"] = r.Enter(ctx, s, []string{"room"})
	_, checks["KeepNode"] = r.KeepNode(ctx, "n")
	_, checks["UserSessions"] = r.UserSessions(ctx, "u")
	checks["Join"] = r.Join(ctx, "room", s)
	checks["Leave"] = r.Leave(ctx, "room", s)
	_, _, checks["Room"] = r.Room(ctx, "room")
	checks["RememberRoom"] = r.RememberRoom(ctx, "u", "d", "room", true)
	_, checks["DeviceRooms"] = r.DeviceRooms(ctx, "u", "d")
	_, checks["NodeSessions"] = r.NodeSessions(ctx, []string{"n"})
	_, checks["PurgeNode"] = r.PurgeNode(ctx, "n")
	for op, err := range checks {
		if !errors.Is(err, registry.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v; want ErrUnavailable", op, err)
		}
	}
}

func benchRedis(b *testing.B) (*registry.Redis, *redistest.RoundTrips) {
	c := redistest.Client(b, "redis://"+redistest.StartServer(b)+"/0")
	rt := &redistest.RoundTrips{}
	c.AddHook(rt)
	return registry.NewRedis(c, registry.Config{}, "bench"), rt
}

// BenchmarkRedisUserSessions: the lookup every push to a user makes.
func BenchmarkRedisUserSessions(b *testing.B) {
	r, rt := benchRedis(b)
	ctx := b.Context()
	for i := range 1000 {
		s := registry.Session{ID: fmt.Sprint(i), User: fmt.Sprint("u", i%500), Node: "n"}
		if err := r.Add(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	rt.Reset()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ss, err := r.UserSessions(ctx, "u42"); err != nil || len(ss) != 2 {
				b.Fatalf("UserSessions = %d, %v", len(ss), err)
			}
		}
	})
	b.ReportMetric(float64(rt.Count())/float64(b.N), "roundtrips/op")
}

// BenchmarkRedisConnect: one session's connect, room join and disconnect.
func BenchmarkRedisConnect(b *testing.B) {
	r, rt := benchRedis(b)
	ctx := b.Context()
	s := registry.Session{ID: "s", User: "u", Device: "d", Node: "n"}
	b.ReportAllocs()
	rt.Reset()
	for b.Loop() {
		if err := r.Add(ctx, s); err != nil {
			b.Fatal(err)
		}
		if err := r.Join(ctx, "lobby", s); err != nil {
			b.Fatal(err)
		}
		if err := r.Remove(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rt.Count())/float64(b.N), "roundtrips/op")
}
