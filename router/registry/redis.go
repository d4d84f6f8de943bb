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

// Redis is the Registry shared by the nodes of a cluster. Its keys are
// grouped by hash tag so that connection work spreads over Redis Cluster's
// slots: one tag per user (the user's live sessions, the rooms each of
// them is in, each device's remembered rooms), one per room, and one per
// bucket of each node's index (a node's sessions over nodeBuckets slots).
// Every Lua script runs within one slot. Steps that span two tags (a
// session and the rooms it is in, a session and its node's index) are
// ordered so that any interleaving, and a caller that dies half way, leaves
// nothing a reader would act on wrongly; see router/README.md, "Redis layout".
//
// Time is Config.Now, passed to the scripts; key TTLs are only a safety net.
// Errors wrap ErrUnavailable.
type Redis struct {
	client     redis.UniversalClient
	prefix     string
	ttl        int64 // DeviceTTL, ms
	maxDevices int   // MaxDevicesPerUser
	now        func() time.Time

	user, room, device *redis.Script
}

var _ Registry = (*Redis)(nil)

const (
	// safetySlack is added to store-side TTLs for clocks that disagree.
	safetySlack = 10 * time.Minute
	// purgeBatch is how many sessions PurgeNode removes per pipeline round.
	purgeBatch = 256
	// nodeBuckets is how many sets (slots) hold one node's index, so that a
	// connect storm into one node spreads over a Cluster's masters. Every
	// node of a deployment must agree on it: PurgeNode walks them all.
	nodeBuckets = 16
)

var (
	//go:embed redis_user.lua
	luaUser string
	//go:embed redis_room.lua
	luaRoom string
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
		client:     client,
		prefix:     prefix,
		ttl:        max(cfg.DeviceTTL.Milliseconds(), 1),
		maxDevices: cfg.MaxDevicesPerUser,
		now:        cfg.Now,
		user:       redis.NewScript(luaUser),
		room:       redis.NewScript(luaRoom),
		device:     redis.NewScript(luaDevice),
	}
}

// Close releases nothing: the client belongs to the caller.
func (r *Redis) Close() {}

// Keys. Each is "{" + prefix + ":" + family + ":" + name + "}:" + suffix.
// A name holding braces only moves where the hash tag ends, alike for all
// keys of that name. Where a suffix is variable (a session id, a device),
// the user's length leads its name, so that two (user, suffix) pairs never
// share a key.
func (r *Redis) userTag(user string) string {
	return "{" + r.prefix + ":u:" + strconv.Itoa(len(user)) + ":" + user + "}:"
}

// userKey holds the user's live sessions: id -> encodeSession.
func (r *Redis) userKey(user string) string { return r.userTag(user) + "s" }

// sessionRoomsKey holds the rooms session id of user was put in.
func (r *Redis) sessionRoomsKey(user, id string) string { return r.userTag(user) + "r:" + id }

// deviceKey holds the rooms remembered for a device of user.
func (r *Redis) deviceKey(user, device string) string { return r.userTag(user) + "d:" + device }

// devicesKey orders user's devices with remembered rooms by their last join.
func (r *Redis) devicesKey(user string) string { return r.userTag(user) + "devs" }

func (r *Redis) roomKeys(room string) []string {
	tag := "{" + r.prefix + ":r:" + room + "}:"
	return []string{tag + "m", tag + "n"}
}

// nodeKey is one bucket of node's index: a set of nodeMember entries.
func (r *Redis) nodeKey(node string, bucket int) string {
	return "{" + r.prefix + ":n:" + strconv.Itoa(bucket) + ":" + node + "}:s"
}

// nodeBucket picks the bucket of a session id (FNV-1a).
func nodeBucket(id string) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return int(h % nodeBuckets)
}

// nodeMember is a session in its node's index: "<len(id)>:<id><user>",
// enough for PurgeNode to find the session under its user's tag.
func nodeMember(id, user string) string { return strconv.Itoa(len(id)) + ":" + id + user }

func parseNodeMember(m string) (id, user string, ok bool) {
	l, rest, ok := strings.Cut(m, ":")
	n, err := strconv.Atoi(l)
	if !ok || err != nil || n < 0 || n > len(rest) {
		return "", "", false
	}
	return rest[:n], rest[n:], true
}

// keep is the store-side TTL of user keys, ms: the device TTL plus slack.
func (r *Redis) keep() int64 { return r.ttl + safetySlack.Milliseconds() }

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
		if err := r.LoadScripts(ctx); err != nil {
			return nil, unavailable(err)
		}
	}
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// LoadScripts loads the registry's scripts on every server (on a Cluster,
// every master), for a caller whose pipeline met NOSCRIPT.
func (r *Redis) LoadScripts(ctx context.Context) error {
	for _, s := range []*redis.Script{r.user, r.room, r.device} {
		if err := s.Load(ctx, r.client).Err(); err != nil {
			return err
		}
	}
	return nil
}

// evalSha queues script s in a pipeline.
func evalSha(ctx context.Context, p redis.Pipeliner, s *redis.Script, keys []string, args ...any) {
	s.EvalSha(ctx, p, keys, args...)
}

// String names the store in logs.
func (r *Redis) String() string { return "redis registry, prefix " + strconv.Quote(r.prefix) }
