package mailbox

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"courier/router/internal/janitor"
)

// Memory is the in-process Mailbox of a single node. Streams are spread over
// sharded locks, so pushes to different users rarely contend. Expired
// messages, idle devices, forgotten streams and expired claims are dropped
// lazily on access and by a janitor; call Close to stop it.
//
// Message.Data is kept as given and handed out shared: callers must treat it
// as immutable (see Mailbox).
type Memory struct {
	limit     int
	deviceTTL int64 // ms
	now       func() time.Time
	seed      maphash.Seed
	shards    [shardCount]shard

	janitor *janitor.Janitor

	nudgeMu sync.Mutex
	nudges  map[string]map[Stream]int64 // node -> stream -> unix ms nudged
}

var _ Mailbox = (*Memory)(nil)

const (
	shardCount = 256 // power of two; enough that 100s of cores rarely meet
	sweepEvery = 30 * time.Second
)

type shard struct {
	mu      sync.Mutex
	streams map[Stream]*stream
	claims  map[string]claim
	// Counters for Stats, written under mu, read without it.
	nMsgs    atomic.Int64
	nStreams atomic.Int64
	nClaims  atomic.Int64
	_        [80]byte // 128 bytes: neighbouring shards' locks share no cache line
}

// streamLocked returns the stream of name, making an empty one when there is
// none; created says which. Called with sh.mu held.
func (sh *shard) streamLocked(name Stream) (s *stream, created bool) {
	if s = sh.streams[name]; s != nil {
		return s, false
	}
	s = &stream{}
	sh.streams[name] = s
	sh.nStreams.Add(1)
	return s, true
}

type claim struct {
	id      string
	expires int64 // unix ms
}

// NewMemory returns an empty Memory with cfg's zero fields set to the defaults,
// and starts its janitor.
func NewMemory(cfg Config) *Memory {
	cfg = cfg.WithDefaults()
	m := &Memory{
		limit:     cfg.Limit,
		deviceTTL: max(cfg.DeviceTTL.Milliseconds(), 1),
		now:       cfg.Now,
		seed:      maphash.MakeSeed(),
	}
	for i := range m.shards {
		m.shards[i].streams = make(map[Stream]*stream)
		m.shards[i].claims = make(map[string]claim)
	}
	m.janitor = janitor.Start(sweepEvery, m.Sweep)
	return m
}

// Close stops the janitor. The Memory stays usable; sweeps then happen only
// on access. Close is idempotent.
func (m *Memory) Close() {
	m.janitor.Stop()
}

func (m *Memory) shard(key string) *shard {
	return &m.shards[maphash.String(m.seed, key)&(shardCount-1)]
}

func (m *Memory) nowMs() int64 { return m.now().UnixMilli() }

// Append implements Log. A message already expired when appended is
// numbered but not kept.
func (m *Memory) Append(_ context.Context, name Stream, msg Message) (uint64, bool, error) {
	now := m.nowMs()
	sh := m.shard(string(name))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s, created := sh.streamLocked(name)
	if !created {
		sh.nMsgs.Add(-int64(s.expire(now)))
		if s.forgotten(now, m.deviceTTL) {
			*s = stream{} // seq restarts, as if the janitor had swept it
		}
	}
	s.touched = now
	if msg.ID != "" {
		if seq, ok := s.ids[msg.ID]; ok {
			return seq, false, nil
		}
	}
	s.last++
	msg.Seq = s.last
	msg.Trace = "" // the store keeps no trace id (Message.Trace)
	if msg.Expires > now {
		sh.nMsgs.Add(int64(s.add(msg, m.limit)))
	}
	return msg.Seq, true, nil
}

// Pending implements Log. A stream never written (or forgotten) is read
// without a trace: the device becomes known to a stream once it holds messages.
func (m *Memory) Pending(_ context.Context, name Stream, dev string, after uint64, limit int) ([]Message, error) {
	var out []Message
	m.written(name, func(s *stream, now int64) {
		d, _ := s.live(dev, now, m.deviceTTL)
		out = s.pending(&d, after, limit)
		s.put(dev, d, now)
		s.touched = now
	})
	return out, nil
}

// written locks name's shard and, when the stream was ever written (and is
// not forgotten), drops what expired and calls fn with it and now (ms).
func (m *Memory) written(name Stream, fn func(s *stream, now int64)) {
	now := m.nowMs()
	sh := m.shard(string(name))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s := sh.streams[name]; s != nil {
		sh.nMsgs.Add(-int64(s.expire(now)))
		fn(s, now)
	}
}

// Held implements Log.
func (m *Memory) Held(_ context.Context, name Stream) (int, error) {
	n := 0
	m.written(name, func(s *stream, _ int64) { n = s.held() })
	return n, nil
}

// Ack implements Log. It also makes the device known to the stream; a
// stream that holds nothing has nothing to acknowledge.
func (m *Memory) Ack(_ context.Context, name Stream, dev string, seq uint64) error {
	m.written(name, func(s *stream, now int64) {
		d, _ := s.live(dev, now, m.deviceTTL)
		s.ack(&d, seq)
		s.put(dev, d, now)
		s.touched = now
	})
	return nil
}

// AckBatch implements Log: one Ack after the other, since no round trip is
// saved in memory.
func (m *Memory) AckBatch(ctx context.Context, acks []Ack) error {
	for _, a := range acks {
		if err := m.Ack(ctx, a.Stream, a.Device, a.Seq); err != nil {
			return err
		}
	}
	return nil
}

// PendingCount implements Log.
func (m *Memory) PendingCount(_ context.Context, name Stream, devices ...string) (int, error) {
	n := 0
	m.written(name, func(s *stream, now int64) { n = s.count(now, m.deviceTTL, devices) })
	return n, nil
}

// Claim implements Claims. A ttl <= 0 binds nothing and returns id.
func (m *Memory) Claim(_ context.Context, key, id string, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return id, nil
	}
	now := m.nowMs()
	sh := m.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c, ok := sh.claims[key]; ok {
		if now < c.expires {
			return c.id, nil
		}
	} else {
		sh.nClaims.Add(1)
	}
	sh.claims[key] = claim{id: id, expires: now + max(ttl.Milliseconds(), 1)}
	return id, nil
}

// Nudge implements Nudges.
func (m *Memory) Nudge(_ context.Context, node string, stream Stream) error {
	m.nudgeMu.Lock()
	defer m.nudgeMu.Unlock()
	if m.nudges == nil {
		m.nudges = make(map[string]map[Stream]int64)
	}
	set := m.nudges[node]
	if set == nil {
		set = make(map[Stream]int64)
		m.nudges[node] = set
	}
	set[stream] = m.nowMs()
	return nil
}

// TakeNudges implements Nudges.
func (m *Memory) TakeNudges(_ context.Context, node string, limit int) ([]Stream, error) {
	m.nudgeMu.Lock()
	defer m.nudgeMu.Unlock()
	set := m.nudges[node]
	var out []Stream
	old := m.nowMs() - NudgeTTL.Milliseconds()
	for s, at := range set {
		if limit > 0 && len(out) == limit {
			break
		}
		delete(set, s)
		if at > old {
			out = append(out, s)
		}
	}
	if len(set) == 0 {
		delete(m.nudges, node)
	}
	return out, nil
}

// Sweep drops expired messages and claims, idle devices, and streams that
// are empty and idle for DeviceTTL. The janitor runs it every sweepEvery;
// tests call it directly. It holds one shard lock at a time.
func (m *Memory) Sweep() {
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		now := m.nowMs()
		for name, s := range sh.streams {
			dropped, dead := s.sweep(now, m.deviceTTL)
			sh.nMsgs.Add(-int64(dropped))
			if dead {
				delete(sh.streams, name)
				sh.nStreams.Add(-1)
			}
		}
		for key, c := range sh.claims {
			if now >= c.expires {
				delete(sh.claims, key)
				sh.nClaims.Add(-1)
			}
		}
		sh.mu.Unlock()
	}
}

// Stats is a snapshot of what a Memory holds, for metrics.
type Stats struct {
	Streams  int // streams with messages, device state or a live seq counter
	Messages int // cached messages, expired ones not yet swept included
	Claims   int // idempotency keys, expired ones not yet swept included
}

// Stats returns current totals without taking any lock.
func (m *Memory) Stats() Stats {
	var st Stats
	for i := range m.shards {
		sh := &m.shards[i]
		st.Streams += int(sh.nStreams.Load())
		st.Messages += int(sh.nMsgs.Load())
		st.Claims += int(sh.nClaims.Load())
	}
	return st
}

// Size returns the number of cached messages (the mailbox-size gauge).
func (m *Memory) Size() int { return m.Stats().Messages }
