package polls_test

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"courier/node/polls"
	"courier/node/polls/pollstest"
	"courier/router/redistest"
)

// redisFactory gives each test its own key prefix on the shared server.
func redisFactory(c redis.UniversalClient) pollstest.Factory {
	return func(t *testing.T, cfg polls.Config) polls.Store {
		return polls.NewRedis(c, cfg, "test:"+t.Name())
	}
}

// TestRedisContract runs the contract suite against one real redis-server.
func TestRedisContract(t *testing.T) {
	t.Parallel()
	c := redistest.Client(t, "redis://"+redistest.StartServer(t)+"/0")
	pollstest.Run(t, redisFactory(c))
}

// TestRedisClusterContract runs it against a 3-master Redis Cluster: a
// script touching keys of two slots would fail with CROSSSLOT.
func TestRedisClusterContract(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-process Redis Cluster; the single-server contract runs under -short")
	}
	t.Parallel()
	c := redistest.Client(t, "redis-cluster://"+strings.Join(redistest.StartCluster(t), ","))
	pollstest.Run(t, redisFactory(c))
}
