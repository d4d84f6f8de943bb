package cluster

import (
	"sort"
	"sync"
	"time"
)

// table is this node's view of the other members, kept from memberlist's events
// rather than read from memberlist.Members(): that returns pointers into memberlist's
// state (racy to read later) without dead or left nodes and without a usable State.
// Each method returns the events to queue, in order; memberlist serializes the calls.
type table struct {
	mu       sync.Mutex
	remember time.Duration // how long dead/left entries stay
	suspect  time.Duration // longest a suspicion of ours can last before memberlist decides
	now      func() time.Time
	peers    map[string]*entry
	leaving  map[string]leaveIntent // nodes that announced a graceful leave, by id
}

type entry struct {
	m            Member
	suspectUntil time.Time // zero: not suspect
}

type leaveIntent struct {
	started int64
	at      time.Time
}

type event struct {
	kind eventKind
	m    Member
}

type eventKind int

const (
	evAlive eventKind = iota
	evDead
	evLeft
	evUpdate
)

func newTable(remember, suspect time.Duration) *table {
	return &table{remember: remember, suspect: suspect, now: time.Now,
		peers: map[string]*entry{}, leaving: map[string]leaveIntent{}}
}

func (e *entry) live() bool { return e.m.State == StateAlive || e.m.State == StateSuspect }

// alive records m (state alive) for memberlist's NotifyJoin.
func (t *table) alive(m Member) []event {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	delete(t.leaving, m.ID)
	m.State, m.Since = StateAlive, now
	e := t.peers[m.ID]
	var evs []event
	if e != nil && e.live() && e.m.Started != m.Started {
		// Not expected (memberlist joins only dead or unknown nodes), but if it
		// happens the old incarnation is gone all the same.
		evs = append(evs, event{evDead, gone(e.m, StateDead, now)})
	}
	if e == nil || !e.live() || e.m.Started != m.Started {
		evs = append(evs, event{evAlive, m})
	}
	t.peers[m.ID] = &entry{m: m}
	return evs
}

// update records new metadata for memberlist's NotifyUpdate. A new Started under the
// same id is a restart that beat failure detection: report the old incarnation dead.
func (t *table) update(m Member) []event {
	t.mu.Lock()
	e := t.peers[m.ID]
	if e == nil || !e.live() {
		t.mu.Unlock()
		return t.alive(m)
	}
	defer t.mu.Unlock()
	now := t.now()
	if e.m.Started != m.Started {
		old := gone(e.m, StateDead, now)
		m.State, m.Since = StateAlive, now
		t.peers[m.ID] = &entry{m: m}
		return []event{{evDead, old}, {evAlive, m}}
	}
	m.State, m.Since = StateAlive, e.m.Since
	t.peers[m.ID] = &entry{m: m}
	return []event{{evUpdate, m}}
}

// gone records memberlist's NotifyLeave: left if the node announced its leave for
// this incarnation, dead otherwise.
func (t *table) gone(m Member) []event {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	state, kind := StateDead, evDead
	if li, ok := t.leaving[m.ID]; ok && li.started == m.Started {
		state, kind = StateLeft, evLeft
	}
	delete(t.leaving, m.ID)
	if e := t.peers[m.ID]; e != nil && !e.live() && e.m.Started == m.Started {
		return nil // already reported
	}
	m = gone(m, state, now)
	t.peers[m.ID] = &entry{m: m}
	return []event{{kind, m}}
}

func gone(m Member, s State, now time.Time) Member {
	m.State, m.Since = s, now
	return m
}

// markSuspect notes that our probe of id failed.
func (t *table) markSuspect(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.peers[id]; e != nil && e.live() {
		if e.suspectUntil.IsZero() {
			e.m.Since = t.now()
		}
		e.suspectUntil = t.now().Add(t.suspect)
	}
}

// acked notes that our probe of id succeeded: whatever the suspicion was, it is over.
func (t *table) acked(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.peers[id]; e != nil && !e.suspectUntil.IsZero() {
		e.suspectUntil = time.Time{}
		e.m.Since = t.now()
	}
}

// intendsToLeave records a node's leave announcement.
func (t *table) intendsToLeave(id string, started int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.leaving[id] = leaveIntent{started: started, at: t.now()}
}

// list returns the members, forgetting dead and left ones older than remember.
func (t *table) list() []Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.pruneLocked(now)
	out := make([]Member, 0, len(t.peers))
	for _, e := range t.peers {
		m := e.m
		if m.State == StateAlive && !e.suspectUntil.IsZero() && now.Before(e.suspectUntil) {
			m.State = StateSuspect
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (t *table) pruneLocked(now time.Time) {
	for id, e := range t.peers {
		if !e.live() && now.Sub(e.m.Since) > t.remember {
			delete(t.peers, id)
		}
	}
	for id, li := range t.leaving {
		if now.Sub(li.at) > t.remember {
			delete(t.leaving, id)
		}
	}
}

// rejoinState tells the rejoin loop whether any peer is live, and the gossip
// addresses of remembered members that failed (not those that left).
func (t *table) rejoinState() (anyLive bool, deadAddrs []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(t.now())
	for _, e := range t.peers {
		switch {
		case e.live():
			anyLive = true
		case e.m.State == StateDead:
			deadAddrs = append(deadAddrs, e.m.Addr)
		}
	}
	sort.Strings(deadAddrs)
	return anyLive, deadAddrs
}

// get returns the member id as known, if any.
func (t *table) get(id string) (Member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.peers[id]
	if !ok {
		return Member{}, false
	}
	return e.m, true
}
