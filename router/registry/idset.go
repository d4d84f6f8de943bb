package registry

// idSet is the session ids of one user. Almost every user has one or two
// sessions, and a map would cost some 300 bytes for each, so up to
// smallSet ids live in a short slice; past that in a map. The zero value
// is empty. Not safe for concurrent use (the registry's lock).
type idSet struct {
	few  []string
	many map[string]struct{}
}

const smallSet = 16

func (s *idSet) add(id string) {
	if s.many != nil {
		s.many[id] = struct{}{}
		return
	}
	for _, x := range s.few {
		if x == id {
			return
		}
	}
	if len(s.few) < smallSet {
		s.few = append(s.few, id)
		return
	}
	s.many = make(map[string]struct{}, 2*smallSet)
	for _, x := range s.few {
		s.many[x] = struct{}{}
	}
	s.many[id] = struct{}{}
	s.few = nil
}

func (s *idSet) del(id string) {
	if s.many != nil {
		delete(s.many, id)
		return
	}
	for i, x := range s.few {
		if x == id {
			last := len(s.few) - 1
			s.few[i], s.few[last] = s.few[last], ""
			s.few = s.few[:last]
			return
		}
	}
}

func (s *idSet) len() int {
	if s.many != nil {
		return len(s.many)
	}
	return len(s.few)
}

// list returns the ids, in no particular order.
func (s *idSet) list() []string {
	if s.many == nil {
		return append([]string(nil), s.few...)
	}
	out := make([]string, 0, len(s.many))
	for id := range s.many {
		out = append(out, id)
	}
	return out
}
