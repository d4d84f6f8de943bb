package hub

import (
	"slices"
	"sync"

	"courier/node/session"
)

// index holds the sessions of this node by id, user and room, for local
// fan-out. Safe for concurrent use; lookups return copies.
type index struct {
	mu     sync.RWMutex
	byID   map[string]*session.Session
	byUser map[string][]*session.Session // a slice: most users have one session
	byRoom map[string]map[*session.Session]struct{}
	roomOf map[*session.Session]map[string]struct{}
}

func newIndex() *index {
	return &index{
		byID:   make(map[string]*session.Session),
		byUser: make(map[string][]*session.Session),
		byRoom: make(map[string]map[*session.Session]struct{}),
		roomOf: make(map[*session.Session]map[string]struct{}),
	}
}

func (ix *index) add(s *session.Session) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.byID[s.ID()] = s
	ix.byUser[s.User] = append(ix.byUser[s.User], s)
}

// remove forgets s and reports whether it was there; its rooms go with it.
func (ix *index) remove(s *session.Session) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.byID[s.ID()] != s {
		return false
	}
	delete(ix.byID, s.ID())
	if rest := slices.DeleteFunc(ix.byUser[s.User], func(o *session.Session) bool { return o == s }); len(rest) > 0 {
		ix.byUser[s.User] = rest
	} else {
		delete(ix.byUser, s.User)
	}
	for room := range ix.roomOf[s] {
		removeFrom(ix.byRoom, room, s)
	}
	delete(ix.roomOf, s)
	return true
}

// join reports whether s was added to room (false: already there, or gone).
func (ix *index) join(room string, s *session.Session) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.byID[s.ID()] != s {
		return false
	}
	rooms := ix.roomOf[s]
	if rooms == nil {
		rooms = make(map[string]struct{}, 1)
		ix.roomOf[s] = rooms
	}
	if _, ok := rooms[room]; ok {
		return false
	}
	rooms[room] = struct{}{}
	addTo(ix.byRoom, room, s)
	return true
}

func (ix *index) leave(room string, s *session.Session) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, ok := ix.roomOf[s][room]; !ok {
		return false
	}
	delete(ix.roomOf[s], room)
	removeFrom(ix.byRoom, room, s)
	return true
}

// roomsFull reports whether s is in max rooms already and room is not one
// of them: joining it would pass the bound.
func (ix *index) roomsFull(room string, s *session.Session, max int) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	rooms := ix.roomOf[s]
	_, in := rooms[room]
	return len(rooms) >= max && !in
}

func (ix *index) roomsOf(s *session.Session) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]string, 0, len(ix.roomOf[s]))
	for room := range ix.roomOf[s] {
		out = append(out, room)
	}
	return out
}

func (ix *index) user(user string) []*session.Session {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return slices.Clone(ix.byUser[user])
}

func (ix *index) room(room string) []*session.Session {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	set := ix.byRoom[room]
	out := make([]*session.Session, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	return out
}

func (ix *index) all() []*session.Session {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]*session.Session, 0, len(ix.byID))
	for _, s := range ix.byID {
		out = append(out, s)
	}
	return out
}

func (ix *index) count() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byID)
}

func addTo(m map[string]map[*session.Session]struct{}, key string, s *session.Session) {
	set := m[key]
	if set == nil {
		set = make(map[*session.Session]struct{}, 1)
		m[key] = set
	}
	set[s] = struct{}{}
}

func removeFrom(m map[string]map[*session.Session]struct{}, key string, s *session.Session) {
	set := m[key]
	delete(set, s)
	if len(set) == 0 {
		delete(m, key)
	}
}
