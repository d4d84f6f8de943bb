package registry

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Registry shared by the nodes of a cluster. Each key family has
// its own hash tag: one per session, per user, per room and per device, and
// one for all node indexes, so every Lua script runs within one Redis Cluster
// slot. Steps that span two of them (a session and the rooms it is in, its
// user and its node) are ordered so that any interleaving, and a caller that
// dies half way, leaves nothing a reader would act on wrongly; see
// router/README.md, "Redis layout".
//
// Time is Config.Now, passed to the scripts; key TTLs are only a safety net.
// Errors wrap ErrUnavailable.
type Redis struct {
	client redis.UniversalClient
	prefix string
	ttl    int64 // DeviceTTL, ms
	now    func() time.Time

	session, room, nodes, device *redis.Script
}

var _ Registry = (*Redis)(nil)

const (
	// safetySlack is added to store-side TTLs for clocks that disagree.
	safetySlack = 10 * time.Minute
	// deadTTL bounds how long a session marked dead by a Remove whose caller
	// died waits for PurgeNode to finish the job.
	deadTTL = time.Hour
	// purgeBatch is how many sessions PurgeNode removes per pipeline round.
	purgeBatch = 256
)

var (
	//go:embed redis_session.lua
	luaSession string
	//go:embed redis_room.lua
	luaRoom string
	//go:embed redis_nodes.lua
	luaNodes string
	//go:embed redis_device.lua
	luaDevice string
)

// NewRedis returns a Registry on client whose keys all start with
// "{"+prefix. Give each deployment (and each test) its own prefix; it may
// not contain braces. cfg's zero fields take the defaults. The client stays
// the caller's.
func NewRedis(client redis.UniversalClient, cfg Config, prefix string) *Redis {
	if strings.ContainsAny(prefix, "{}") {
		panic(fmt.Sprintf("registry: Redis key prefix %q contains a brace", prefix))
	}
	cfg = cfg.WithDefaults()
	return &Redis{
		client:  client,
		prefix:  prefix,
		ttl:     max(cfg.DeviceTTL.Milliseconds(), 1),
		now:     cfg.Now,
		session: redis.NewScript(luaSession),
		room:    redis.NewScript(luaRoom),
		nodes:   redis.NewScript(luaNodes),
		device:  redis.NewScript(luaDevice),
	}
}

// Close releases nothing: the client belongs to the caller.
func (r *Redis) Close() {}

// Keys. Each is "{" + prefix + ":" + family + ":" + name + "}:" + suffix
// with fixed suffixes free of "}", so a name holding braces only moves where
// the hash tag ends (alike for all keys of that name) and two names never
// share a key.
func (r *Redis) sessionKeys(id string) []string {
	tag := "{" + r.prefix + ":s:" + id + "}:"
	return []string{tag + "h", tag + "rooms"}
}

func (r *Redis) userKey(user string) string { return "{" + r.prefix + ":u:" + user + "}:s" }

func (r *Redis) roomKeys(room string) []string {
	tag := "{" + r.prefix + ":r:" + room + "}:"
	return []string{tag + "m", tag + "n"}
}

func (r *Redis) nodesKey() string { return "{" + r.prefix + ":nodes}:all" }

func (r *Redis) nodeKey(node string) string { return "{" + r.prefix + ":nodes}:n:" + node }

// deviceKey length-prefixes the user so ("a:b","c") and ("a","b:c") differ.
func (r *Redis) deviceKey(user, device string) string {
	return "{" + r.prefix + ":d:" + strconv.Itoa(len(user)) + ":" + user + ":" + device + "}:h"
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

// run is one script call; a false reply (redis.Nil) is no error.
func (r *Redis) run(ctx context.Context, s *redis.Script, keys []string, args ...any) (any, error) {
	v, err := s.Run(ctx, r.client, keys, args...).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return v, nil
}

// pipe sends what build queues in one pipeline (on a Cluster, one per
// master, in parallel). Scripts go as EVALSHA; if a server lacks one (a
// restart, a new master) they are loaded everywhere and the whole batch is
// sent again, which is safe because every queued step is idempotent.
func (r *Redis) pipe(ctx context.Context, build func(p redis.Pipeliner)) ([]redis.Cmder, error) {
	for attempt := 0; ; attempt++ {
		p := r.client.Pipeline()
		build(p)
		if p.Len() == 0 {
			return nil, nil
		}
		cmds, _ := p.Exec(ctx)
		var first error
		noScript := false
		for _, c := range cmds {
			if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
				first = firstErr(first, err)
				noScript = noScript || strings.HasPrefix(err.Error(), "NOSCRIPT")
			}
		}
		if first == nil {
			return cmds, nil
		}
		if !noScript || attempt > 0 {
			return nil, unavailable(first)
		}
		for _, s := range []*redis.Script{r.session, r.room, r.nodes, r.device} {
			if err := s.Load(ctx, r.client).Err(); err != nil {
				return nil, unavailable(err)
			}
		}
	}
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// evalSha queues script s in a pipeline.
func evalSha(ctx context.Context, p redis.Pipeliner, s *redis.Script, keys []string, args ...any) {
	s.EvalSha(ctx, p, keys, args...)
}

// String names the store in logs.
func (r *Redis) String() string { return "redis registry, prefix " + strconv.Quote(r.prefix) }
