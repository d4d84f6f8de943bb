package mailbox

import (
	"context"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
)

// CountHeld implements Inspector. Memory keeps the count as it goes
// (Size); Redis has to look at every stream: a SCAN of
// each master for the streams' expiry indexes and a pipelined ZCOUNT per
// batch, so call it now and then (node/mailboxgauge.go: one node, once a
// minute), never per request.
func (r *Redis) CountHeld(ctx context.Context) (int, error) {
	now := "(" + strconv.FormatInt(r.nowMs(), 10)
	match := "{" + r.prefix + ":m:*}:x"
	count := func(ctx context.Context, c redis.UniversalClient) (int, error) {
		total := 0
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, match, 1000).Result()
			if err != nil {
				return 0, unavailable(err)
			}
			if len(keys) > 0 {
				pipe := c.Pipeline()
				cmds := make([]*redis.IntCmd, len(keys))
				for i, k := range keys {
					cmds[i] = pipe.ZCount(ctx, k, now, "+inf")
				}
				if _, err := pipe.Exec(ctx); err != nil {
					return 0, unavailable(err)
				}
				for _, c := range cmds {
					total += int(c.Val())
				}
			}
			if cursor = next; cursor == 0 {
				return total, nil
			}
		}
	}
	cc, ok := r.client.(*redis.ClusterClient)
	if !ok {
		return count(ctx, r.client)
	}
	var mu sync.Mutex
	total := 0
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n, err := count(ctx, c)
		mu.Lock()
		total += n
		mu.Unlock()
		return err
	})
	return total, err
}

// CountHeld implements Inspector: Size once what expired is dropped.
func (m *Memory) CountHeld(context.Context) (int, error) {
	m.Sweep()
	return m.Size(), nil
}
