package node

import (
	"slices"
	"sync"

	"courier/node/session"
)

// hub indexes the sessions this node holds, by id, user and room, for
// local fan-out. Safe for concurrent use; lookups return copies.
type hub struct {
	mu     sync.RWMutex
	byID   map[string]*session.Session
	byUser map[string][]*session.Session // a slice: most users have one session
	byRoom map[string]map[*session.Session]struct{}
	roomOf map[*session.Session]map[string]struct{}
}

func newHub() *hub {
	return &hub{
		byID:   make(map[string]*session.Session),
		byUser: make(map[string][]*session.Session),
		byRoom: make(map[string]map[*session.Session]struct{}),
		roomOf: make(map[*session.Session]map[string]struct{}),
	}
}

func (h *hub) add(s *session.Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.byID[s.ID()] = s
	h.byUser[s.User] = append(h.byUser[s.User], s)
}

// remove forgets s and reports whether it was there; its rooms go with it.
func (h *hub) remove(s *session.Session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byID[s.ID()] != s {
		return false
	}
	delete(h.byID, s.ID())
	if rest := slices.DeleteFunc(h.byUser[s.User], func(o *session.Session) bool { return o == s }); len(rest) > 0 {
		h.byUser[s.User] = rest
	} else {
		delete(h.byUser, s.User)
	}
	for room := range h.roomOf[s] {
		removeFrom(h.byRoom, room, s)
	}
	delete(h.roomOf, s)
	return true
}

// join reports whether s was added to room (false: already there, or gone).
func (h *hub) join(room string, s *session.Session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byID[s.ID()] != s {
		return false
	}
	rooms := h.roomOf[s]
	if rooms == nil {
		rooms = make(map[string]struct{}, 1)
		h.roomOf[s] = rooms
	}
	if _, ok := rooms[room]; ok {
		return false
	}
	rooms[room] = struct{}{}
	addTo(h.byRoom, room, s)
	return true
}

func (h *hub) leave(room string, s *session.Session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.roomOf[s][room]; !ok {
		return false
	}
	delete(h.roomOf[s], room)
	removeFrom(h.byRoom, room, s)
	return true
}

// roomsFull reports whether s is in max rooms already and room is not one
// of them: joining it would pass the bound.
func (h *hub) roomsFull(room string, s *session.Session, max int) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	rooms := h.roomOf[s]
	_, in := rooms[room]
	return len(rooms) >= max && !in
}

func (h *hub) roomsOf(s *session.Session) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, len(h.roomOf[s]))
	for room := range h.roomOf[s] {
		out = append(out, room)
	}
	return out
}

func (h *hub) user(user string) []*session.Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return slices.Clone(h.byUser[user])
}

func (h *hub) room(room string) []*session.Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	set := h.byRoom[room]
	out := make([]*session.Session, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	return out
}

func (h *hub) all() []*session.Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*session.Session, 0, len(h.byID))
	for _, s := range h.byID {
		out = append(out, s)
	}
	return out
}

func (h *hub) count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.byID)
}

func addTo(index map[string]map[*session.Session]struct{}, key string, s *session.Session) {
	set := index[key]
	if set == nil {
		set = make(map[*session.Session]struct{}, 1)
		index[key] = set
	}
	set[s] = struct{}{}
}

func removeFrom(index map[string]map[*session.Session]struct{}, key string, s *session.Session) {
	set := index[key]
	delete(set, s)
	if len(set) == 0 {
		delete(index, key)
	}
}
