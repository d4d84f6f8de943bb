package polls

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Store shared by the nodes of a cluster.
//
// Key layout: every key carries the one hash tag "{PREFIX:polls}", so all
// of them live in one Redis Cluster slot and each script sees them all
// atomically (tasks are few: configuration, not traffic).
//
//	{P:polls}:tasks   hash  name -> task JSON
//	{P:polls}:lease   hash  name -> "token expires-ms node"
//	{P:polls}:result  hash  name -> "token at-ms changed-ms hash"
//	{P:polls}:fence   string the last fencing token issued (INCR)
//
// Tasks are kept until deleted, so no key has a TTL; lease expiry is judged
// by Config.Now passed into the scripts, never Redis TIME. The one counter
// for every task makes tokens grow across deletes and re-creations of a name.
// Errors wrap ErrUnavailable.
type Redis struct {
	client                      redis.UniversalClient
	now                         func() time.Time
	tasks, lease, result, fence string

	put, del, acquire, renew, setResult *redis.Script
}

var _ Store = (*Redis)(nil)

var (
	//go:embed redis_put.lua
	luaPut string
	//go:embed redis_delete.lua
	luaDelete string
	//go:embed redis_acquire.lua
	luaAcquire string
	//go:embed redis_renew.lua
	luaRenew string
	//go:embed redis_result.lua
	luaResult string
)

// NewRedis returns a Store on client whose keys start with "{"+prefix+":polls}".
// The prefix may not contain braces (they would move the hash tag). The
// client stays the caller's.
func NewRedis(client redis.UniversalClient, cfg Config, prefix string) *Redis {
	if strings.ContainsAny(prefix, "{}") {
		panic(fmt.Sprintf("polls: Redis key prefix %q contains a brace", prefix))
	}
	cfg = cfg.withDefaults()
	tag := "{" + prefix + ":polls}:"
	return &Redis{
		client: client, now: cfg.Now,
		tasks: tag + "tasks", lease: tag + "lease", result: tag + "result", fence: tag + "fence",
		put:       redis.NewScript(luaPut),
		del:       redis.NewScript(luaDelete),
		acquire:   redis.NewScript(luaAcquire),
		renew:     redis.NewScript(luaRenew),
		setResult: redis.NewScript(luaResult),
	}
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

func (r *Redis) nowMs() int64 { return r.now().UnixMilli() }

// Put implements Store: one script.
func (r *Redis) Put(ctx context.Context, t Task) (bool, error) {
	enc, err := json.Marshal(t)
	if err != nil {
		return false, err
	}
	n, err := r.put.Run(ctx, r.client, []string{r.tasks, r.result}, t.Name, enc).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// Delete implements Store: one script.
func (r *Redis) Delete(ctx context.Context, name string) (bool, error) {
	n, err := r.del.Run(ctx, r.client, []string{r.tasks, r.lease, r.result}, name).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// Get implements Store: one HGET.
func (r *Redis) Get(ctx context.Context, name string) (Task, bool, error) {
	raw, err := r.client.HGet(ctx, r.tasks, name).Bytes()
	if errors.Is(err, redis.Nil) {
		return Task{}, false, nil
	}
	if err != nil {
		return Task{}, false, unavailable(err)
	}
	var t Task
	if err := json.Unmarshal(raw, &t); err != nil {
		return Task{}, false, fmt.Errorf("polls: task %q in Redis: %w", name, err)
	}
	return t, true, nil
}

// List implements Store: one HGETALL. A task that does not decode (written
// by a newer version, say) is skipped rather than failing every other one.
func (r *Redis) List(ctx context.Context) ([]Task, error) {
	all, err := r.client.HGetAll(ctx, r.tasks).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]Task, 0, len(all))
	for _, raw := range all {
		var t Task
		if json.Unmarshal([]byte(raw), &t) == nil {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b Task) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Acquire implements Store: one script.
func (r *Redis) Acquire(ctx context.Context, name, node string, ttl time.Duration) (uint64, bool, error) {
	tok, err := r.acquire.Run(ctx, r.client, []string{r.tasks, r.lease, r.fence},
		name, node, r.nowMs(), ms(ttl)).Int64()
	if err != nil {
		return 0, false, unavailable(err)
	}
	return uint64(tok), tok > 0, nil
}

// Renew implements Store: one script.
func (r *Redis) Renew(ctx context.Context, name, node string, token uint64, ttl time.Duration) (bool, error) {
	return r.renewOrRelease(ctx, name, node, token, ms(ttl))
}

// Release implements Store: the renew script with ttl -1.
func (r *Redis) Release(ctx context.Context, name, node string, token uint64) error {
	_, err := r.renewOrRelease(ctx, name, node, token, -1)
	return err
}

func (r *Redis) renewOrRelease(ctx context.Context, name, node string, token uint64, ttlMs int64) (bool, error) {
	n, err := r.renew.Run(ctx, r.client, []string{r.lease},
		name, node, strconv.FormatUint(token, 10), r.nowMs(), ttlMs).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// Lease implements Store: one HGET.
func (r *Redis) Lease(ctx context.Context, name string) (Lease, bool, error) {
	raw, err := r.client.HGet(ctx, r.lease, name).Result()
	if errors.Is(err, redis.Nil) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, unavailable(err)
	}
	f := strings.SplitN(raw, " ", 3)
	if len(f) != 3 {
		return Lease{}, false, fmt.Errorf("polls: lease %q in Redis: %q", name, raw)
	}
	tok, err1 := strconv.ParseUint(f[0], 10, 64)
	exp, err2 := strconv.ParseInt(f[1], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Lease{}, false, fmt.Errorf("polls: lease %q in Redis: %w", name, err)
	}
	if r.nowMs() >= exp {
		return Lease{}, false, nil
	}
	return Lease{Node: f[2], Token: tok, Expires: time.UnixMilli(exp)}, true, nil
}

// LastResult implements Store: one HGET.
func (r *Redis) LastResult(ctx context.Context, name string) (Result, bool, error) {
	raw, err := r.client.HGet(ctx, r.result, name).Result()
	if errors.Is(err, redis.Nil) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, unavailable(err)
	}
	f := strings.SplitN(raw, " ", 4)
	if len(f) != 4 {
		return Result{}, false, fmt.Errorf("polls: result %q in Redis: %q", name, raw)
	}
	tok, err1 := strconv.ParseUint(f[0], 10, 64)
	at, err2 := strconv.ParseInt(f[1], 10, 64)
	ch, err3 := strconv.ParseInt(f[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Result{}, false, fmt.Errorf("polls: result %q in Redis: %w", name, err)
	}
	return Result{Hash: f[3], Token: tok, At: time.UnixMilli(at), Changed: time.UnixMilli(ch)}, true, nil
}

// SetLastResult implements Store: one script.
func (r *Redis) SetLastResult(ctx context.Context, name string, token uint64, hash string) (bool, error) {
	n, err := r.setResult.Run(ctx, r.client, []string{r.tasks, r.lease, r.result},
		name, strconv.FormatUint(token, 10), r.nowMs(), hash).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// String names the store in logs.
func (r *Redis) String() string { return "redis polls store, " + strconv.Quote(r.tasks) }
