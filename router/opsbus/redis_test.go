package opsbus_test

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"courier/router/opsbus"
	"courier/router/opsbus/opsbustest"
	"courier/router/redistest"
	"courier/router/testkit"
)

// redisFactory gives each test its own prefix; the two buses are two nodes.
func redisFactory(c redis.UniversalClient) opsbustest.Factory {
	return func(t *testing.T, cfg opsbus.Config) (opsbus.Bus, opsbus.Bus) {
		prefix := "test:" + t.Name()
		cfg.Node = "a"
		a := opsbus.NewRedis(c, cfg, prefix)
		cfg.Node = "b"
		b := opsbus.NewRedis(c, cfg, prefix)
		t.Cleanup(a.Close)
		t.Cleanup(b.Close)
		return a, b
	}
}

func TestRedisContract(t *testing.T) {
	t.Parallel()
	opsbustest.Run(t, redisFactory(redistest.Client(t, "redis://"+redistest.StartServer(t)+"/0")))
}

// TestRedisClusterContract: events and settings cross masters (pub/sub is
// cluster-wide), and trace records spread over slots.
func TestRedisClusterContract(t *testing.T) {
	t.Parallel()
	opsbustest.Run(t, redisFactory(redistest.Client(t, "redis-cluster://"+strings.Join(redistest.StartCluster(t), ","))))
}

// TestRedisDownCostsTracesOnly: with Redis unreachable a watch is refused
// with an error, and publishing neither blocks nor panics; the events are
// counted as dropped.
func TestRedisDownCostsTracesOnly(t *testing.T) {
	t.Parallel()
	b := opsbus.NewRedis(redistest.Unreachable(t), opsbus.Config{Node: "a"}, "down")
	t.Cleanup(b.Close)
	if _, err := b.Watch(t.Context(), "alice"); err == nil {
		t.Fatal("Watch on a dead Redis succeeded")
	}
	start := time.Now()
	for range 10_000 {
		b.Publish(opsbus.Event{User: "alice", TraceID: "t", Type: opsbus.TypePush})
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("10,000 publishes on a dead Redis took %v", took)
	}
	testkit.Eventually(t, 10*time.Second, "no event counted as dropped", func() bool { return b.Dropped() > 0 })
	if b.Traced("alice") {
		t.Fatal("a failed watch left alice traced")
	}
}
