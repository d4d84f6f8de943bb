package opsbus

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Bus of a cluster on Redis:
//
//   - {P:ops}:watch, a hash "user\nnode" -> expiry (unix ms): who is watched,
//     by which node. Each node refreshes its own fields every watchRefresh,
//     and reads the hash every pollEvery, or at once when told on the
//     control channel; fields of a node that died expire with it.
//   - P:ops:ev:<user>, the pub/sub channel of a user's events; the watching
//     nodes subscribe to it, and so see their own node's events too.
//   - P:ops:ctl, the control channel: watches started, settings.
//   - {P:ops:t:<id>}, a list per trace id (JSON events), trimmed to the
//     newest maxTraceEvents and expiring Keep after its latest event.
//   - {P:ops}:figures, a hash node -> JSON NodeFigures.
//
// Publishing goes through a bounded queue and one writer that pipelines
// what has queued, so a slow or dead Redis never holds a caller up.
type Redis struct {
	cfg    Config
	client redis.UniversalClient
	prefix string

	lost     atomic.Uint64
	watchers *watchers
	traced   tracedSet
	queue    chan Event
	pubsub   *redis.PubSub
	reload   chan struct{}

	onSetting settingHook
	// others is the users other nodes watch, as the last read of the watch
	// hash found them; traced is this node's own watches and these.
	others atomic.Pointer[[]string]

	ctx    context.Context
	cancel context.CancelFunc
	loops  sync.WaitGroup
}

var _ Bus = (*Redis)(nil)

const (
	watchRefresh = 5 * time.Second
	watchLife    = 3 * watchRefresh
	pollEvery    = time.Second
	queueLen     = 4096
	batchLen     = 256
)

// NewRedis returns the Bus of a node on client; keys and channels start
// with prefix (no braces). The client stays the caller's.
func NewRedis(client redis.UniversalClient, cfg Config, prefix string) *Redis {
	if strings.ContainsAny(prefix, "{}") {
		panic(fmt.Sprintf("opsbus: Redis key prefix %q contains a brace", prefix))
	}
	r := &Redis{cfg: cfg.WithDefaults(), client: client, prefix: prefix,
		queue: make(chan Event, queueLen), reload: make(chan struct{}, 1)}
	r.watchers = newWatchers(&r.lost)
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.pubsub = client.Subscribe(r.ctx, r.ctlChannel())
	r.loops.Add(3)
	go r.receive()
	go r.write()
	go r.pollWatches()
	return r
}

func (r *Redis) watchKey() string            { return "{" + r.prefix + ":ops}:watch" }
func (r *Redis) figuresKey() string          { return "{" + r.prefix + ":ops}:figures" }
func (r *Redis) traceKey(id string) string   { return "{" + r.prefix + ":ops:t:" + id + "}" }
func (r *Redis) ctlChannel() string          { return r.prefix + ":ops:ctl" }
func (r *Redis) userChannel(u string) string { return r.prefix + ":ops:ev:" + u }
func (r *Redis) watchField(u string) string  { return u + "\n" + r.cfg.Node }

// Traced implements Bus.
func (r *Redis) Traced(user string) bool { return r.traced.has(user) }

// Watch implements Bus.
func (r *Redis) Watch(ctx context.Context, user string) (<-chan Event, error) {
	ch, first, err := r.watchers.add(user)
	if err != nil {
		return nil, err
	}
	if first {
		err := r.pubsub.Subscribe(ctx, r.userChannel(user))
		if err == nil {
			err = r.client.HSet(ctx, r.watchKey(), r.watchField(user), r.expiry()).Err()
		}
		if err == nil {
			err = r.client.Publish(ctx, r.ctlChannel(), ctlMessage{Watch: user}.encode()).Err()
		}
		if err != nil {
			r.unwatch(user, ch)
			return nil, fmt.Errorf("opsbus: starting a watch of %q: %w", user, err)
		}
	}
	r.retrace()
	r.watchers.until(ctx, user, ch, func() { r.forget(user) })
	return ch, nil
}

// unwatch undoes a Watch that failed half way.
func (r *Redis) unwatch(user string, ch chan Event) {
	if r.watchers.remove(user, ch) {
		r.forget(user)
	}
}

// forget ends the node's watch of user, its last watcher gone.
func (r *Redis) forget(user string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.pubsub.Unsubscribe(ctx, r.userChannel(user))
	_ = r.client.HDel(ctx, r.watchKey(), r.watchField(user)).Err()
	r.retrace()
}

func (r *Redis) expiry() string {
	return strconv.FormatInt(r.cfg.Now().Add(watchLife).UnixMilli(), 10)
}

// retrace sets the traced users: this node's own watches, at once, and
// the other nodes' as last read.
func (r *Redis) retrace() {
	users := r.watchers.users()
	if others := r.others.Load(); others != nil {
		users = append(users, *others...)
	}
	r.traced.set(users)
}

// pollWatches reads who is watched, every pollEvery or when told, and
// refreshes this node's own watches every watchRefresh.
func (r *Redis) pollWatches() {
	defer r.loops.Done()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var refreshed time.Time
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		case <-r.reload:
		}
		if time.Since(refreshed) >= watchRefresh {
			refreshed = time.Now()
			r.refreshOwn()
		}
		r.readWatches()
	}
}

func (r *Redis) refreshOwn() {
	users := r.watchers.users()
	if len(users) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, 2*time.Second)
	defer cancel()
	exp := r.expiry()
	args := make([]any, 0, 2*len(users))
	for _, u := range users {
		args = append(args, r.watchField(u), exp)
	}
	_ = r.client.HSet(ctx, r.watchKey(), args...).Err()
}

func (r *Redis) readWatches() {
	ctx, cancel := context.WithTimeout(r.ctx, 2*time.Second)
	defer cancel()
	all, err := r.client.HGetAll(ctx, r.watchKey()).Result()
	if err != nil {
		return // the last set stands; a dead Redis has no watchers to feed anyway
	}
	now := r.cfg.Now().UnixMilli()
	var others, stale []string
	for field, exp := range all {
		user, node, _ := strings.Cut(field, "\n")
		switch ms, err := strconv.ParseInt(exp, 10, 64); {
		case err != nil || ms <= now:
			stale = append(stale, field)
		case node != r.cfg.Node: // this node's own are its watchers
			others = append(others, user)
		}
	}
	r.others.Store(&others)
	r.retrace()
	if len(stale) > 0 {
		_ = r.client.HDel(ctx, r.watchKey(), stale...).Err()
	}
}

// ctlMessage is one message of the control channel.
type ctlMessage struct {
	Watch   string   `json:"watch,omitempty"`
	Setting *Setting `json:"setting,omitempty"`
}

func (m ctlMessage) encode() string {
	b, _ := json.Marshal(m)
	return string(b)
}

// receive reads the subscriptions: events for this node's watchers, and
// the control channel.
func (r *Redis) receive() {
	defer r.loops.Done()
	for msg := range r.pubsub.Channel(redis.WithChannelSize(1024)) {
		if msg.Channel == r.ctlChannel() {
			r.control(msg.Payload)
			continue
		}
		var ev Event
		if json.Unmarshal([]byte(msg.Payload), &ev) == nil {
			r.watchers.deliver(ev)
		}
	}
}

func (r *Redis) control(payload string) {
	var m ctlMessage
	if json.Unmarshal([]byte(payload), &m) != nil {
		return
	}
	if m.Watch != "" {
		select {
		case r.reload <- struct{}{}:
		default:
		}
	}
	if m.Setting != nil {
		r.onSetting.call(*m.Setting)
	}
}

// Publish implements Bus.
func (r *Redis) Publish(ev Event) {
	if (ev.TraceID == "" || ev.LiveOnly) && !r.traced.has(ev.User) {
		return
	}
	stamp(&ev, r.cfg)
	select {
	case r.queue <- ev:
	default:
		r.lost.Add(1)
	}
}

// write sends what Publish queued, a pipeline per batch.
func (r *Redis) write() {
	defer r.loops.Done()
	batch := make([]Event, 0, batchLen)
	for {
		select {
		case <-r.ctx.Done():
			return
		case ev := <-r.queue:
			batch = append(batch[:0], ev)
		}
	more:
		for len(batch) < batchLen {
			select {
			case ev := <-r.queue:
				batch = append(batch, ev)
			default:
				break more
			}
		}
		r.send(batch)
	}
}

func (r *Redis) send(batch []Event) {
	ctx, cancel := context.WithTimeout(r.ctx, 2*time.Second)
	defer cancel()
	pipe := r.client.Pipeline()
	keep := r.cfg.Keep
	for _, ev := range batch {
		b, err := json.Marshal(ev)
		if err != nil {
			continue
		}
		if r.traced.has(ev.User) {
			pipe.Publish(ctx, r.userChannel(ev.User), b)
		}
		if ev.TraceID != "" && !ev.LiveOnly {
			k := r.traceKey(ev.TraceID)
			pipe.RPush(ctx, k, b)
			pipe.LTrim(ctx, k, -maxTraceEvents, -1)
			pipe.PExpire(ctx, k, keep)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		r.lost.Add(uint64(len(batch)))
	}
}

// Trace implements Bus.
func (r *Redis) Trace(ctx context.Context, traceID string) ([]Event, error) {
	raw, err := r.client.LRange(ctx, r.traceKey(traceID), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("opsbus: reading trace %s: %w", traceID, err)
	}
	out := make([]Event, 0, len(raw))
	for _, s := range raw {
		var ev Event
		if json.Unmarshal([]byte(s), &ev) == nil {
			out = append(out, ev)
		}
	}
	return byTime(out), nil
}

// Announce implements Bus.
func (r *Redis) Announce(ctx context.Context, s Setting) error {
	if err := r.client.Publish(ctx, r.ctlChannel(), ctlMessage{Setting: &s}.encode()).Err(); err != nil {
		return fmt.Errorf("opsbus: announcing %s: %w", s.Name, err)
	}
	return nil
}

// OnSetting implements Bus.
func (r *Redis) OnSetting(fn func(Setting)) {
	r.onSetting.set(fn)
}

// Report implements Bus.
func (r *Redis) Report(ctx context.Context, f NodeFigures) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, r.figuresKey(), f.Node, b)
		p.PExpire(ctx, r.figuresKey(), time.Minute)
		return nil
	})
	return err
}

// Figures implements Bus.
func (r *Redis) Figures(ctx context.Context) ([]NodeFigures, error) {
	all, err := r.client.HGetAll(ctx, r.figuresKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("opsbus: reading node figures: %w", err)
	}
	now := r.cfg.Now()
	var out []NodeFigures
	for _, s := range all {
		var f NodeFigures
		if json.Unmarshal([]byte(s), &f) == nil && now.Sub(f.At) < figuresLifetime {
			out = append(out, f)
		}
	}
	return out, nil
}

// Dropped implements Bus.
func (r *Redis) Dropped() uint64 { return r.lost.Load() }

// Close implements Bus: it ends this node's watches and stops the loops.
func (r *Redis) Close() {
	users := r.watchers.users()
	r.watchers.closeAll()
	if len(users) > 0 {
		fields := make([]string, len(users))
		for i, u := range users {
			fields[i] = r.watchField(u)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = r.client.HDel(ctx, r.watchKey(), fields...).Err()
		cancel()
	}
	r.cancel()
	_ = r.pubsub.Close()
	r.loops.Wait()
}
