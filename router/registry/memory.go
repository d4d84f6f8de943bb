package registry

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"courier/router/internal/janitor"
	"courier/router/internal/smallmap"
)

// Memory is the in-process Registry of a single node. Sessions and rooms sit
// under one RWMutex (pushes only read them); remembered device rooms have
// their own lock, and expired ones are dropped on access and by a janitor:
// call Close to stop it.
type Memory struct {
	ttl time.Duration
	now func() time.Time

	mu       sync.RWMutex
	sessions map[string]*entry                  // session id -> session
	users    map[string]*smallmap.Map[struct{}] // user -> session ids
	nodes    map[string]map[string]struct{}     // node -> session ids
	rooms    map[string]*room

	dmu        sync.Mutex
	devices    map[deviceKey]*remembered
	userDevs   map[string]map[string]struct{} // user -> its devices in devices
	maxDevices int

	dyeMu sync.RWMutex
	dyes  map[string]Dye // user -> its dye

	janitor *janitor.Janitor
}

var _ Registry = (*Memory)(nil)

const sweepEvery = time.Minute

type entry struct {
	s     Session
	rooms map[string]struct{} // so Remove finds its memberships without a scan
}

type room struct {
	members map[string]string // session id -> node
	nodes   map[string]int    // node -> members on it
}

type deviceKey struct{ user, device string }

type remembered struct {
	rooms   map[string]struct{}
	expires time.Time
}

// NewMemory returns an empty Memory with cfg's zero fields set to the
// defaults, and starts its janitor.
func NewMemory(cfg Config) *Memory {
	cfg = cfg.WithDefaults()
	m := &Memory{
		ttl:        cfg.DeviceTTL,
		now:        cfg.Now,
		sessions:   make(map[string]*entry),
		users:      make(map[string]*smallmap.Map[struct{}]),
		nodes:      make(map[string]map[string]struct{}),
		rooms:      make(map[string]*room),
		devices:    make(map[deviceKey]*remembered),
		userDevs:   make(map[string]map[string]struct{}),
		maxDevices: cfg.MaxDevicesPerUser,
	}
	m.janitor = janitor.Start(sweepEvery, m.Sweep)
	return m
}

// Close stops the janitor; the Memory stays usable. Close is idempotent.
func (m *Memory) Close() {
	m.janitor.Stop()
}

// Sweep drops expired remembered device rooms; the janitor runs it every minute.
func (m *Memory) Sweep() {
	now := m.now()
	m.dmu.Lock()
	defer m.dmu.Unlock()
	for k, r := range m.devices {
		if !now.Before(r.expires) {
			m.forgetDevice(k)
		}
	}
}

// userAdd and userDel keep the user index free of empty sets.
func (m *Memory) userAdd(user, id string) {
	set := m.users[user]
	if set == nil {
		set = &smallmap.Map[struct{}]{}
		m.users[user] = set
	}
	set.Set(id, struct{}{})
}

func (m *Memory) userDel(user, id string) {
	if set := m.users[user]; set != nil {
		set.Delete(id)
		if set.Len() == 0 {
			delete(m.users, user)
		}
	}
}

// setAdd and setDel keep index maps free of empty sets, so memory follows
// live sessions only.
func setAdd(idx map[string]map[string]struct{}, key, id string) {
	set := idx[key]
	if set == nil {
		set = make(map[string]struct{}, 1)
		idx[key] = set
	}
	set[id] = struct{}{}
}

func setDel(idx map[string]map[string]struct{}, key, id string) {
	if set := idx[key]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(idx, key)
		}
	}
}

func (r *room) add(id, node string) {
	if _, ok := r.members[id]; ok {
		return
	}
	r.members[id] = node
	r.nodes[node]++
}

func (r *room) del(id string) {
	node, ok := r.members[id]
	if !ok {
		return
	}
	delete(r.members, id)
	if r.nodes[node]--; r.nodes[node] == 0 {
		delete(r.nodes, node)
	}
}

// Add implements Sessions.
func (m *Memory) Add(_ context.Context, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.sessions[s.ID]
	if e == nil {
		m.sessions[s.ID] = &entry{s: s}
		m.userAdd(s.User, s.ID)
		setAdd(m.nodes, s.Node, s.ID)
		return nil
	}
	old := e.s
	e.s = s
	if old.User != s.User {
		m.userDel(old.User, s.ID)
		m.userAdd(s.User, s.ID)
	}
	if old.Node != s.Node {
		setDel(m.nodes, old.Node, s.ID)
		setAdd(m.nodes, s.Node, s.ID)
		for name := range e.rooms { // memberships stay, on the new node
			r := m.rooms[name]
			r.del(s.ID)
			r.add(s.ID, s.Node)
		}
	}
	return nil
}

// Arrive implements Sessions.
func (m *Memory) Arrive(ctx context.Context, s Session, maxRooms int) (Arrived, error) {
	_ = m.Add(ctx, s)
	rooms, _ := m.DeviceRooms(ctx, s.User, s.Device)
	rooms = rooms[:min(len(rooms), max(maxRooms, 0))]
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.sessions[s.ID]; e != nil && len(rooms) > 0 {
		if e.rooms == nil {
			e.rooms = make(map[string]struct{}, len(rooms))
		}
		for _, name := range rooms {
			e.rooms[name] = struct{}{}
		}
	}
	return Arrived{Rooms: rooms, Sessions: m.users[s.User].Len()}, nil
}

// Enter implements Sessions.
func (m *Memory) Enter(_ context.Context, s Session, rooms []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, name := range rooms {
		m.joinLocked(name, s)
	}
	return nil
}

// Remove implements Sessions.
func (m *Memory) Remove(_ context.Context, sessions ...Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range sessions {
		m.removeLocked(s.ID)
	}
	return nil
}

func (m *Memory) removeLocked(id string) bool {
	e := m.sessions[id]
	if e == nil {
		return false
	}
	for name := range e.rooms {
		m.leaveLocked(name, id)
	}
	delete(m.sessions, id)
	m.userDel(e.s.User, id)
	setDel(m.nodes, e.s.Node, id)
	return true
}

// UserSessions implements Sessions. The list is ordered by connection time.
func (m *Memory) UserSessions(_ context.Context, user string) ([]Session, error) {
	m.mu.RLock()
	set := m.users[user]
	if set == nil {
		m.mu.RUnlock()
		return nil, nil
	}
	ids := set.Keys()
	out := make([]Session, 0, len(ids))
	for _, id := range ids {
		out = append(out, m.sessions[id].s)
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b Session) int {
		return cmp.Or(a.ConnectedAt.Compare(b.ConnectedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Join implements Sessions. The room records the node the registry holds
// for the session, not the one in s.
func (m *Memory) Join(_ context.Context, name string, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.joinLocked(name, s)
	return nil
}

func (m *Memory) joinLocked(name string, s Session) {
	e := m.sessions[s.ID]
	if e == nil {
		return
	}
	r := m.rooms[name]
	if r == nil {
		r = &room{members: make(map[string]string), nodes: make(map[string]int)}
		m.rooms[name] = r
	}
	r.add(s.ID, e.s.Node)
	if e.rooms == nil {
		e.rooms = make(map[string]struct{})
	}
	e.rooms[name] = struct{}{}
}

// Leave implements Sessions.
func (m *Memory) Leave(_ context.Context, name string, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leaveLocked(name, s.ID)
	if e := m.sessions[s.ID]; e != nil {
		delete(e.rooms, name)
	}
	return nil
}

func (m *Memory) leaveLocked(name, id string) {
	r := m.rooms[name]
	if r == nil {
		return
	}
	r.del(id)
	if len(r.members) == 0 {
		delete(m.rooms, name)
	}
}

// Room implements Sessions. Nodes come sorted.
func (m *Memory) Room(_ context.Context, name string) (int, []string, error) {
	m.mu.RLock()
	r := m.rooms[name]
	if r == nil {
		m.mu.RUnlock()
		return 0, nil, nil
	}
	n := len(r.members)
	nodes := make([]string, 0, len(r.nodes))
	for node := range r.nodes {
		nodes = append(nodes, node)
	}
	m.mu.RUnlock()
	slices.Sort(nodes)
	return n, nodes, nil
}

// RoomNodes implements Sessions.
func (m *Memory) RoomNodes(_ context.Context, name string) (map[string]int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := map[string]int{}
	if r := m.rooms[name]; r != nil {
		maps.Copy(out, r.nodes)
	}
	return out, nil
}

// RememberRoom implements Sessions.
func (m *Memory) RememberRoom(_ context.Context, user, device, name string, joined bool) error {
	now := m.now()
	k := deviceKey{user, device}
	m.dmu.Lock()
	defer m.dmu.Unlock()
	r := m.devices[k]
	if r != nil && !now.Before(r.expires) {
		m.forgetDevice(k)
		r = nil
	}
	switch {
	case joined:
		if r == nil {
			m.makeRoomForDevice(user, now)
			r = &remembered{rooms: make(map[string]struct{}, 1)}
			m.devices[k] = r
			if m.userDevs[user] == nil {
				m.userDevs[user] = map[string]struct{}{}
			}
			m.userDevs[user][device] = struct{}{}
		}
		r.rooms[name] = struct{}{}
		r.expires = now.Add(m.ttl)
	case r != nil:
		delete(r.rooms, name)
		if len(r.rooms) == 0 {
			m.forgetDevice(k)
		}
	}
	return nil
}

// makeRoomForDevice forgets user's expired devices, then its least
// recently joined ones until one more fits under maxDevices. dmu is held.
func (m *Memory) makeRoomForDevice(user string, now time.Time) {
	for d := range m.userDevs[user] {
		if k := (deviceKey{user, d}); !now.Before(m.devices[k].expires) {
			m.forgetDevice(k)
		}
	}
	for len(m.userDevs[user]) >= m.maxDevices {
		var oldest deviceKey
		var at time.Time
		for d := range m.userDevs[user] {
			k := deviceKey{user, d}
			if e := m.devices[k].expires; at.IsZero() || e.Before(at) {
				oldest, at = k, e
			}
		}
		m.forgetDevice(oldest)
	}
}

// forgetDevice drops a device's remembered rooms. dmu is held.
func (m *Memory) forgetDevice(k deviceKey) {
	delete(m.devices, k)
	if set := m.userDevs[k.user]; set != nil {
		delete(set, k.device)
		if len(set) == 0 {
			delete(m.userDevs, k.user)
		}
	}
}

// DeviceRooms implements Sessions. Rooms come sorted.
func (m *Memory) DeviceRooms(_ context.Context, user, device string) ([]string, error) {
	now := m.now()
	k := deviceKey{user, device}
	m.dmu.Lock()
	r := m.devices[k]
	if r == nil || !now.Before(r.expires) {
		m.forgetDevice(k)
		m.dmu.Unlock()
		return nil, nil
	}
	out := make([]string, 0, len(r.rooms))
	for name := range r.rooms {
		out = append(out, name)
	}
	m.dmu.Unlock()
	slices.Sort(out)
	return out, nil
}

// NodeSessions implements Sessions.
func (m *Memory) NodeSessions(_ context.Context, nodes []string) (map[string]int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]int, len(nodes))
	for _, node := range nodes {
		if n := len(m.nodes[node]); n > 0 {
			out[node] = n
		}
	}
	return out, nil
}

// KeepNode implements Sessions; nothing in memory expires.
func (m *Memory) KeepNode(_ context.Context, node string) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.nodes[node]), nil
}

// PurgeNode implements Sessions.
func (m *Memory) PurgeNode(_ context.Context, node string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id := range m.nodes[node] { // removeLocked deletes from this set: allowed while ranging
		if m.removeLocked(id) {
			n++
		}
	}
	return n, nil
}

// Stats is a snapshot of what a Memory holds, for metrics.
type Stats struct {
	Sessions, Rooms, Devices int
}

// Stats counts sessions, non-empty rooms and devices with remembered rooms.
func (m *Memory) Stats() Stats {
	m.mu.RLock()
	st := Stats{Sessions: len(m.sessions), Rooms: len(m.rooms)}
	m.mu.RUnlock()
	m.dmu.Lock()
	st.Devices = len(m.devices)
	m.dmu.Unlock()
	return st
}

// SetDye implements Dyes.
func (m *Memory) SetDye(_ context.Context, user, env string, ttl time.Duration) error {
	m.dyeMu.Lock()
	defer m.dyeMu.Unlock()
	if m.dyes == nil {
		m.dyes = make(map[string]Dye)
	}
	now := m.now()
	for u, d := range m.dyes { // few: testers
		if !now.Before(d.Expires) {
			delete(m.dyes, u)
		}
	}
	if env == "" {
		delete(m.dyes, user)
	} else {
		m.dyes[user] = Dye{User: user, Env: env, Expires: now.Add(ttl)}
	}
	return nil
}

// Dye implements Dyes.
func (m *Memory) Dye(_ context.Context, user string) (string, error) {
	m.dyeMu.RLock()
	defer m.dyeMu.RUnlock()
	if d, ok := m.dyes[user]; ok && m.now().Before(d.Expires) {
		return d.Env, nil
	}
	return "", nil
}

// Dyes implements Dyes.
func (m *Memory) Dyes(_ context.Context) ([]Dye, error) {
	m.dyeMu.RLock()
	defer m.dyeMu.RUnlock()
	now := m.now()
	out := []Dye{}
	for _, d := range m.dyes {
		if now.Before(d.Expires) && len(out) < MaxDyes {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out, nil
}
