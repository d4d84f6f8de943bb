package polls

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is the Store of a single node (the in-memory default). One mutex
// guards everything: tasks are few and every operation is a map lookup.
type Memory struct {
	now func() time.Time

	mu     sync.Mutex
	tasks  map[string]memTask
	leases map[string]Lease
	result map[string]Result
	fence  uint64 // the last token issued, for any task
}

type memTask struct {
	task Task
	enc  []byte // its JSON, to tell a real change from a re-Put
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory Store.
func NewMemory(cfg Config) *Memory {
	cfg = cfg.withDefaults()
	return &Memory{
		now:    cfg.Now,
		tasks:  map[string]memTask{},
		leases: map[string]Lease{},
		result: map[string]Result{},
	}
}

// Put implements Store.
func (m *Memory) Put(_ context.Context, t Task) (bool, error) {
	enc, err := json.Marshal(t)
	if err != nil {
		return false, err
	}
	t = cloneTask(t)
	m.mu.Lock()
	defer m.mu.Unlock()
	old, existed := m.tasks[t.Name]
	m.tasks[t.Name] = memTask{task: t, enc: enc}
	if existed && !bytes.Equal(old.enc, enc) {
		delete(m.result, t.Name)
	}
	return !existed, nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, name string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, existed := m.tasks[name]
	delete(m.tasks, name)
	delete(m.leases, name)
	delete(m.result, name)
	return existed, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, name string) (Task, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tasks[name]
	return cloneTask(t.task), ok, nil
}

// List implements Store.
func (m *Memory) List(context.Context) ([]Task, error) {
	m.mu.Lock()
	out := make([]Task, 0, len(m.tasks))
	for _, t := range m.tasks {
		out = append(out, cloneTask(t.task))
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Task) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Acquire implements Store.
func (m *Memory) Acquire(_ context.Context, name, node string, ttl time.Duration) (uint64, bool, error) {
	now := m.nowMs()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tasks[name]; !ok {
		return 0, false, nil
	}
	if l, ok := m.leases[name]; ok && now < l.Expires.UnixMilli() && l.Node != node {
		return 0, false, nil
	}
	m.fence++
	m.leases[name] = Lease{Node: node, Token: m.fence, Expires: time.UnixMilli(now + ms(ttl))}
	return m.fence, true, nil
}

// Renew implements Store.
func (m *Memory) Renew(_ context.Context, name, node string, token uint64, ttl time.Duration) (bool, error) {
	now := m.nowMs()
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[name]
	if !ok || l.Node != node || l.Token != token {
		return false, nil
	}
	l.Expires = time.UnixMilli(now + ms(ttl))
	m.leases[name] = l
	return true, nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, name, node string, token uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.leases[name]; ok && l.Node == node && l.Token == token {
		delete(m.leases, name)
	}
	return nil
}

// Lease implements Store.
func (m *Memory) Lease(_ context.Context, name string) (Lease, bool, error) {
	now := m.nowMs()
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[name]
	if !ok || now >= l.Expires.UnixMilli() {
		return Lease{}, false, nil
	}
	return l, true, nil
}

// LastResult implements Store.
func (m *Memory) LastResult(_ context.Context, name string) (Result, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.result[name]
	return r, ok, nil
}

// SetLastResult implements Store.
func (m *Memory) SetLastResult(_ context.Context, name string, token uint64, hash string) (bool, error) {
	now := time.UnixMilli(m.nowMs())
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[name]
	if _, exists := m.tasks[name]; !exists || !ok || l.Token != token {
		return false, nil
	}
	r, had := m.result[name]
	if !had || r.Hash != hash {
		r.Changed = now
	}
	r.Hash, r.Token, r.At = hash, token, now
	m.result[name] = r
	return true, nil
}

// nowMs is the store's clock at the millisecond resolution Redis keeps, so
// both implementations judge expiry edges alike.
func (m *Memory) nowMs() int64 { return m.now().UnixMilli() }

func ms(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

// cloneTask copies the slices a caller could change under the store.
func cloneTask(t Task) Task {
	t.Data = bytes.Clone(t.Data)
	t.To.Users = slices.Clone(t.To.Users)
	t.To.Rooms = slices.Clone(t.To.Rooms)
	if t.TTL != nil {
		v := *t.TTL
		t.TTL = &v
	}
	return t
}
