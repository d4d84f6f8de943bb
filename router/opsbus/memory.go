package opsbus

import (
	"context"
	"sync"
	"sync/atomic"
)

// Memory is the Bus of a node alone: its watchers, records and settings
// stay in the process.
type Memory struct {
	cfg      Config
	lost     atomic.Uint64
	watchers *watchers
	traced   tracedSet
	records  records

	mu        sync.Mutex
	onSetting settingHook
	figures   map[string]NodeFigures
}

var _ Bus = (*Memory)(nil)

// NewMemory returns a Bus for one node.
func NewMemory(cfg Config) *Memory {
	m := &Memory{cfg: cfg.WithDefaults()}
	m.watchers = newWatchers(&m.lost)
	return m
}

// Traced implements Bus.
func (m *Memory) Traced(user string) bool { return m.traced.has(user) }

// Watch implements Bus.
func (m *Memory) Watch(ctx context.Context, user string) (<-chan Event, error) {
	ch, _, err := m.watchers.add(user)
	if err != nil {
		return nil, err
	}
	m.traced.set(m.watchers.users())
	m.watchers.until(ctx, user, ch, func() { m.traced.set(m.watchers.users()) })
	return ch, nil
}

// Publish implements Bus.
func (m *Memory) Publish(ev Event) {
	stamp(&ev, m.cfg)
	if ev.TraceID != "" && !ev.LiveOnly {
		m.records.add(ev, m.cfg.Now().UnixNano(), int64(m.cfg.Keep))
	}
	if m.traced.has(ev.User) {
		m.watchers.deliver(ev)
	}
}

// Trace implements Bus.
func (m *Memory) Trace(_ context.Context, traceID string) ([]Event, error) {
	return byTime(m.records.get(traceID, m.cfg.Now().UnixNano(), int64(m.cfg.Keep))), nil
}

// Announce implements Bus.
func (m *Memory) Announce(_ context.Context, s Setting) error {
	m.onSetting.call(s)
	return nil
}

// OnSetting implements Bus.
func (m *Memory) OnSetting(fn func(Setting)) {
	m.onSetting.set(fn)
}

// Report implements Bus.
func (m *Memory) Report(_ context.Context, f NodeFigures) error {
	m.mu.Lock()
	if m.figures == nil {
		m.figures = make(map[string]NodeFigures)
	}
	m.figures[f.Node] = f
	m.mu.Unlock()
	return nil
}

// Figures implements Bus.
func (m *Memory) Figures(context.Context) ([]NodeFigures, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []NodeFigures
	for _, f := range m.figures {
		if m.cfg.Now().Sub(f.At) < figuresLifetime {
			out = append(out, f)
		}
	}
	return out, nil
}

// Dropped implements Bus.
func (m *Memory) Dropped() uint64 { return m.lost.Load() }

// Close implements Bus.
func (m *Memory) Close() { m.watchers.closeAll() }
