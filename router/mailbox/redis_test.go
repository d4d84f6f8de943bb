package mailbox_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"courier/router/mailbox"
	"courier/router/mailbox/mailboxtest"
	"courier/router/redistest"
)

// redisFactory gives each test its own key prefix on the shared server.
func redisFactory(c redis.UniversalClient) mailboxtest.Factory {
	return func(t *testing.T, cfg mailbox.Config) mailbox.Mailbox {
		m := mailbox.NewRedis(c, cfg, "test:"+t.Name())
		t.Cleanup(m.Close)
		return m
	}
}

// TestRedisContract runs the contract suite against one real redis-server.
func TestRedisContract(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t, "redis://"+redistest.StartServer(t)+"/0")
	mailboxtest.Run(t, redisFactory(c))
	t.Run("SafetyTTL", func(t *testing.T) { t.Parallel(); testSafetyTTL(t, c) })
}

// TestRedisClusterContract runs the same suite against a 3-master Redis
// Cluster: a script touching keys of two slots would fail with CROSSSLOT.
func TestRedisClusterContract(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t, "redis-cluster://"+strings.Join(redistest.StartCluster(t), ","))
	mailboxtest.Run(t, redisFactory(c))
	t.Run("SafetyTTL", func(t *testing.T) { t.Parallel(); testSafetyTTL(t, c) })
}

// testSafetyTTL: every key of a stream carries a TTL no shorter than the
// logical life it backs (message expiry, device TTL).
func testSafetyTTL(t *testing.T, c redis.UniversalClient) {
	ctx := t.Context()
	prefix := "ttl:" + t.Name()
	m := mailbox.NewRedis(c, mailbox.Config{DeviceTTL: time.Hour}, prefix)
	s := mailbox.UserStream("u")
	exp := time.Now().Add(48 * time.Hour).UnixMilli()
	if _, _, err := m.Append(ctx, s, mailbox.Message{ID: "a", Expires: exp}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Pending(ctx, s, "d", 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Claim(ctx, "k", "id", time.Minute); err != nil {
		t.Fatal(err)
	}
	tag := "{" + prefix + ":m:" + string(s) + "}:"
	for _, k := range []string{tag + "meta", tag + "q", tag + "x", tag + "m", tag + "ids", tag + "dev"} {
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil || ttl < 47*time.Hour {
			t.Errorf("PTTL(%s) = %v, %v; want >= the message's 48h", k, ttl, err)
		}
	}
	ck := "{" + prefix + ":c:k}:claim"
	if ttl, err := c.PTTL(ctx, ck).Result(); err != nil || ttl < time.Minute {
		t.Errorf("PTTL(%s) = %v, %v; want >= the claim's minute", ck, ttl, err)
	}
}

// TestRedisUnavailable: a dead server surfaces as ErrUnavailable, quickly.
func TestRedisUnavailable(t *testing.T) {
	t.Parallel()
	c := redistest.Unreachable(t)
	m := mailbox.NewRedis(c, mailbox.Config{}, "down")
	ctx := t.Context()
	s := mailbox.UserStream("u")
	checks := map[string]error{}
	_, _, checks["Append"] = m.Append(ctx, s, mailbox.Message{ID: "a", Expires: time.Now().Add(time.Minute).UnixMilli()})
	_, checks["Pending"] = m.Pending(ctx, s, "d", 0, 0)
	checks["Ack"] = m.Ack(ctx, s, "d", 1)
	_, checks["PendingCount"] = m.PendingCount(ctx, s)
	_, checks["Claim"] = m.Claim(ctx, "k", "id", time.Minute)
	for op, err := range checks {
		if !errors.Is(err, mailbox.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v; want ErrUnavailable", op, err)
		}
	}
}

// roundTrips counts commands sent to Redis (a pipeline counts once).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

func benchRedis(b *testing.B) (*mailbox.Redis, *roundTrips) {
	c := redistest.Client(b, "redis://"+redistest.StartServer(b)+"/0")
	rt := &roundTrips{}
	c.AddHook(rt)
	return mailbox.NewRedis(c, mailbox.Config{Limit: 100}, "bench"), rt
}

// BenchmarkRedisAppend: pushes to many users in parallel, streams full.
func BenchmarkRedisAppend(b *testing.B) {
	m, rt := benchRedis(b)
	ctx := b.Context()
	exp := time.Now().Add(time.Hour).UnixMilli()
	data := []byte(`{"hello":"world"}`)
	var g, seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	rt.n.Store(0)
	b.RunParallel(func(pb *testing.PB) {
		n := g.Add(1)
		streams := make([]mailbox.Stream, 16)
		for i := range streams {
			streams[i] = mailbox.UserStream(fmt.Sprintf("user-%d-%d", n, i))
		}
		i := 0
		for pb.Next() {
			msg := mailbox.Message{ID: fmt.Sprint("id-", seq.Add(1)), Event: "ev", Data: data, Expires: exp}
			if _, _, err := m.Append(ctx, streams[i%len(streams)], msg); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/op")
}

// BenchmarkRedisPendingAck: one device replays 4 messages and acks them out
// of order, the reconnect path (4 Appends, 1 Pending, 4 Acks per op).
func BenchmarkRedisPendingAck(b *testing.B) {
	m, rt := benchRedis(b)
	ctx := b.Context()
	s := mailbox.UserStream("bench")
	exp := time.Now().Add(time.Hour).UnixMilli()
	b.ReportAllocs()
	rt.n.Store(0)
	for i := 0; b.Loop(); i++ {
		for k := range 4 {
			if _, _, err := m.Append(ctx, s, mailbox.Message{ID: fmt.Sprint(i*4 + k), Expires: exp}); err != nil {
				b.Fatal(err)
			}
		}
		ms, err := m.Pending(ctx, s, "dev", 0, 0)
		if err != nil || len(ms) != 4 {
			b.Fatalf("Pending = %d messages, %v", len(ms), err)
		}
		for _, k := range []int{1, 0, 3, 2} {
			if err := m.Ack(ctx, s, "dev", ms[k].Seq); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/op")
}
