package mailbox

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

// Redis is the Mailbox shared by the nodes of a cluster. Every operation is
// one Lua script (one round trip, EVALSHA) over the keys of one stream, which
// share a hash tag and so one Redis Cluster slot: each step is atomic on a
// single server and on a Cluster alike. See router/README.md, "Redis layout".
//
// Time is Config.Now, passed to every script: Redis TIME is never used for
// logic. Key TTLs (relative PEXPIRE) are only a safety net, at least the
// logical life plus safetySlack. Errors wrap ErrUnavailable.
type Redis struct {
	client    redis.UniversalClient
	prefix    string
	limit     int
	deviceTTL int64 // ms
	now       func() time.Time

	append, pending, ack, count, claim, inspect *redis.Script
}

var _ Mailbox = (*Redis)(nil)

// safetySlack is added to every store-side TTL, so nodes whose clocks run a
// little ahead of Redis's never lose what they still consider alive.
const safetySlack = 10 * time.Minute

var (
	//go:embed redis_lib.lua
	luaLib string
	//go:embed redis_append.lua
	luaAppend string
	//go:embed redis_pending.lua
	luaPending string
	//go:embed redis_ack.lua
	luaAck string
	//go:embed redis_count.lua
	luaCount string
	//go:embed redis_claim.lua
	luaClaim string
	//go:embed redis_inspect.lua
	luaInspect string
)

// NewRedis returns a Mailbox on client whose keys all start with "{"+prefix.
// Give each deployment (and each test) its own prefix. The prefix may not
// contain braces: they would change which part of a key Redis Cluster hashes.
// cfg's zero fields take the defaults. The client stays the caller's.
func NewRedis(client redis.UniversalClient, cfg Config, prefix string) *Redis {
	if strings.ContainsAny(prefix, "{}") {
		panic(fmt.Sprintf("mailbox: Redis key prefix %q contains a brace", prefix))
	}
	cfg = cfg.WithDefaults()
	return &Redis{
		client:    client,
		prefix:    prefix,
		limit:     cfg.Limit,
		deviceTTL: max(cfg.DeviceTTL.Milliseconds(), 1),
		now:       cfg.Now,
		append:    redis.NewScript(luaLib + luaAppend),
		pending:   redis.NewScript(luaLib + luaPending),
		ack:       redis.NewScript(luaLib + luaAck),
		count:     redis.NewScript(luaLib + luaCount),
		claim:     redis.NewScript(luaClaim),
		inspect:   redis.NewScript(luaLib + luaInspect),
	}
}

// Close releases nothing: the client belongs to the caller. It exists so
// Redis and Memory stop the same way.
func (r *Redis) Close() {}

// keys returns the six keys of a stream, in the order the scripts expect.
// The tag "{prefix:m:stream}" is the same in all six. A stream name holding
// "}" only moves where the tag ends, identically for all six keys, and the
// fixed suffixes hold no "}", so two streams never share a key.
func (r *Redis) keys(s Stream) []string {
	tag := "{" + r.prefix + ":m:" + string(s) + "}:"
	return []string{tag + "meta", tag + "q", tag + "x", tag + "m", tag + "ids", tag + "dev"}
}

func (r *Redis) nowMs() int64 { return r.now().UnixMilli() }

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

// Append implements Log: one EVALSHA.
func (r *Redis) Append(ctx context.Context, s Stream, msg Message) (uint64, bool, error) {
	res, err := r.append.Run(ctx, r.client, r.keys(s),
		r.nowMs(), r.deviceTTL, safetySlack.Milliseconds(), r.limit,
		msg.ID, msg.Expires, encodeMessage(msg)).Int64Slice()
	if err != nil {
		return 0, false, unavailable(err)
	}
	if len(res) != 2 {
		return 0, false, unavailable(fmt.Errorf("append script returned %v", res))
	}
	return uint64(res[0]), res[1] == 1, nil
}

// Pending implements Log: one EVALSHA.
func (r *Redis) Pending(ctx context.Context, s Stream, dev string, after uint64, limit int) ([]Message, error) {
	return decodePending(r.pending.Run(ctx, r.client, r.keys(s),
		r.nowMs(), r.deviceTTL, safetySlack.Milliseconds(), dev, after, limit))
}

// QueuePending queues Pending on p, for a caller that batches it with other
// stores' work in one pipeline; the returned func reads its reply once p
// has run. A NOSCRIPT error means LoadScripts, then the whole batch again.
func (r *Redis) QueuePending(ctx context.Context, p redis.Pipeliner, s Stream, dev string, after uint64, limit int) func() ([]Message, error) {
	cmd := r.pending.EvalSha(ctx, p, r.keys(s), r.nowMs(), r.deviceTTL, safetySlack.Milliseconds(), dev, after, limit)
	return func() ([]Message, error) { return decodePending(cmd) }
}

// LoadScripts loads the mailbox's scripts on every server (on a Cluster,
// every master), for a caller whose pipeline met NOSCRIPT.
func (r *Redis) LoadScripts(ctx context.Context) error {
	for _, s := range []*redis.Script{r.append, r.pending, r.ack, r.count, r.claim} {
		if err := s.Load(ctx, r.client).Err(); err != nil {
			return err
		}
	}
	return nil
}

// Held implements Log: one ZCOUNT of the expiry index.
func (r *Redis) Held(ctx context.Context, s Stream) (int, error) {
	n, err := r.client.ZCount(ctx, r.keys(s)[2], "("+strconv.FormatInt(r.nowMs(), 10), "+inf").Result()
	if err != nil {
		return 0, unavailable(err)
	}
	return int(n), nil
}

func decodePending(cmd *redis.Cmd) ([]Message, error) {
	res, err := cmd.Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	out, err := decodeSeqMessages(res)
	if err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}

// Ack implements Log: one EVALSHA.
func (r *Redis) Ack(ctx context.Context, s Stream, dev string, seq uint64) error {
	err := r.ack.Run(ctx, r.client, r.keys(s),
		r.nowMs(), r.deviceTTL, safetySlack.Milliseconds(), dev, seq).Err()
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// AckBatch implements Log: one pipeline of EVALSHAs, one per
// (stream, device) with all its seqs (a Redis Cluster client splits the
// pipeline by node). A script Redis does not hold yet is
// loaded and the batch sent again: acks are idempotent.
func (r *Redis) AckBatch(ctx context.Context, acks []Ack) error {
	if len(acks) == 0 {
		return nil
	}
	// One script run per (stream, device), carrying all its seqs.
	type target struct {
		stream Stream
		device string
	}
	order := make([]target, 0, len(acks))
	seqs := make(map[target][]any, len(acks))
	for _, a := range acks {
		t := target{a.Stream, a.Device}
		if _, ok := seqs[t]; !ok {
			order = append(order, t)
		}
		seqs[t] = append(seqs[t], a.Seq)
	}
	send := func() error {
		pipe := r.client.Pipeline()
		now := r.nowMs()
		for _, t := range order {
			args := append([]any{now, r.deviceTTL, safetySlack.Milliseconds(), t.device}, seqs[t]...)
			r.ack.EvalSha(ctx, pipe, r.keys(t.stream), args...)
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	err := send()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = r.ack.Load(ctx, r.client).Err(); err == nil {
			err = send()
		}
	}
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// PendingCount implements Log: one EVALSHA, O(held messages x devices).
func (r *Redis) PendingCount(ctx context.Context, s Stream, devices ...string) (int, error) {
	args := []any{r.nowMs(), r.deviceTTL}
	for _, d := range devices {
		args = append(args, d)
	}
	n, err := r.count.Run(ctx, r.client, r.keys(s), args...).Int()
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

// Claim implements Claims: one EVALSHA on a key of its own.
func (r *Redis) Claim(ctx context.Context, key, id string, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return id, nil
	}
	k := "{" + r.prefix + ":c:" + key + "}:claim"
	got, err := r.claim.Run(ctx, r.client, []string{k},
		r.nowMs(), max(ttl.Milliseconds(), 1), safetySlack.Milliseconds(), id).Text()
	if err != nil {
		return "", unavailable(err)
	}
	return got, nil
}

// nudgeKey is node's set of nudged streams, a slot of its own.
func (r *Redis) nudgeKey(node string) string { return "{" + r.prefix + ":k:" + node + "}:nudges" }

// Nudge implements Nudges: SADD and PEXPIRE in one round trip. The key's
// TTL is NudgeTTL from the latest nudge (the store's clock: it is only
// what bounds an abandoned set).
func (r *Redis) Nudge(ctx context.Context, node string, stream Stream) error {
	key := r.nudgeKey(node)
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, key, string(stream))
		p.PExpire(ctx, key, NudgeTTL)
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// TakeNudges implements Nudges: one SPOP, which takes and forgets at once,
// so two takers never both get a stream.
func (r *Redis) TakeNudges(ctx context.Context, node string, limit int) ([]Stream, error) {
	if limit <= 0 {
		limit = 1 << 20
	}
	got, err := r.client.SPopN(ctx, r.nudgeKey(node), int64(limit)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	out := make([]Stream, len(got))
	for i, s := range got {
		out[i] = Stream(s)
	}
	return out, nil
}

// String names the store in logs.
func (r *Redis) String() string { return "redis mailbox, prefix " + strconv.Quote(r.prefix) }
