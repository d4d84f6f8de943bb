// Package smallmap is a string-keyed map for the many places that usually
// hold one or two entries (a user's sessions, a user stream's devices): up
// to Small entries live in a short slice, searched in order, and past that
// in a Go map. A Go map with one entry costs some 300 bytes; a slice of one
// costs the entry.
package smallmap

// Small is how many entries stay in the slice.
const Small = 8

// Map is not safe for concurrent use. The zero value is empty.
type Map[V any] struct {
	few  []entry[V]
	many map[string]V
}

type entry[V any] struct {
	key string
	val V
}

// Get returns the value of key.
func (m *Map[V]) Get(key string) (V, bool) {
	if m.many != nil {
		v, ok := m.many[key]
		return v, ok
	}
	for i := range m.few {
		if m.few[i].key == key {
			return m.few[i].val, true
		}
	}
	var zero V
	return zero, false
}

// Set stores v as the value of key.
func (m *Map[V]) Set(key string, v V) {
	if m.many != nil {
		m.many[key] = v
		return
	}
	for i := range m.few {
		if m.few[i].key == key {
			m.few[i].val = v
			return
		}
	}
	if len(m.few) < Small {
		m.few = append(m.few, entry[V]{key, v})
		return
	}
	m.many = make(map[string]V, 2*Small)
	for _, e := range m.few {
		m.many[e.key] = e.val
	}
	m.many[key] = v
	m.few = nil
}

// Delete removes key. The order of what stays may change.
func (m *Map[V]) Delete(key string) {
	if m.many != nil {
		delete(m.many, key)
		return
	}
	for i := range m.few {
		if m.few[i].key == key {
			last := len(m.few) - 1
			m.few[i], m.few[last] = m.few[last], entry[V]{}
			m.few = m.few[:last]
			if last == 0 {
				m.few = nil
			}
			return
		}
	}
}

// Len is the number of entries.
func (m *Map[V]) Len() int {
	if m.many != nil {
		return len(m.many)
	}
	return len(m.few)
}

// Keep calls fn on every entry; fn may change the value, and returns false
// to drop the entry.
func (m *Map[V]) Keep(fn func(key string, v *V) bool) {
	if m.many != nil {
		for k, v := range m.many {
			if !fn(k, &v) {
				delete(m.many, k)
				continue
			}
			m.many[k] = v
		}
		return
	}
	kept := m.few[:0]
	for _, e := range m.few {
		if fn(e.key, &e.val) {
			kept = append(kept, e)
		}
	}
	clear(m.few[len(kept):])
	m.few = kept
	if len(m.few) == 0 {
		m.few = nil
	}
}

// Any reports whether fn holds for some value; it stops at the first.
func (m *Map[V]) Any(fn func(v *V) bool) bool {
	if m.many != nil {
		for _, v := range m.many {
			if fn(&v) {
				return true
			}
		}
		return false
	}
	for i := range m.few {
		if fn(&m.few[i].val) {
			return true
		}
	}
	return false
}

// Keys returns the keys, in no particular order.
func (m *Map[V]) Keys() []string {
	out := make([]string, 0, m.Len())
	if m.many != nil {
		for k := range m.many {
			out = append(out, k)
		}
		return out
	}
	for _, e := range m.few {
		out = append(out, e.key)
	}
	return out
}
