package mailbox

// deviceSet is a stream's devices. A user stream has one or two, and a map
// would cost some 300 bytes for each, so up to smallDevices live in a short
// slice, searched in order; past that (room and broadcast logs) in a map.
// The zero value is empty. Not safe for concurrent use (the shard's lock).
type deviceSet struct {
	few  []namedDevice
	many map[string]device
}

type namedDevice struct {
	name string
	d    device
}

const smallDevices = 8

func (ds *deviceSet) get(name string) (device, bool) {
	if ds.many != nil {
		d, ok := ds.many[name]
		return d, ok
	}
	for i := range ds.few {
		if ds.few[i].name == name {
			return ds.few[i].d, true
		}
	}
	return device{}, false
}

func (ds *deviceSet) set(name string, d device) {
	if ds.many != nil {
		ds.many[name] = d
		return
	}
	for i := range ds.few {
		if ds.few[i].name == name {
			ds.few[i].d = d
			return
		}
	}
	if len(ds.few) < smallDevices {
		ds.few = append(ds.few, namedDevice{name, d})
		return
	}
	ds.many = make(map[string]device, 2*smallDevices)
	for _, nd := range ds.few {
		ds.many[nd.name] = nd.d
	}
	ds.many[name] = d
	ds.few = nil
}

func (ds *deviceSet) del(name string) {
	if ds.many != nil {
		delete(ds.many, name)
		return
	}
	for i := range ds.few {
		if ds.few[i].name == name {
			last := len(ds.few) - 1
			ds.few[i] = ds.few[last] // order does not matter
			ds.few[last] = namedDevice{}
			ds.few = ds.few[:last]
			return
		}
	}
}

func (ds *deviceSet) len() int {
	if ds.many != nil {
		return len(ds.many)
	}
	return len(ds.few)
}

// each calls fn on every device; fn may change it, and returns false to
// drop it.
func (ds *deviceSet) each(fn func(name string, d *device) bool) {
	if ds.many != nil {
		for name, d := range ds.many {
			if !fn(name, &d) {
				delete(ds.many, name)
				continue
			}
			ds.many[name] = d
		}
		return
	}
	kept := ds.few[:0]
	for _, nd := range ds.few {
		if fn(nd.name, &nd.d) {
			kept = append(kept, nd)
		}
	}
	clear(ds.few[len(kept):])
	ds.few = kept
	if len(ds.few) == 0 {
		ds.few = nil
	}
}

// any reports whether fn holds for some device; it stops at the first.
func (ds *deviceSet) any(fn func(d *device) bool) bool {
	if ds.many != nil {
		for _, d := range ds.many {
			if fn(&d) {
				return true
			}
		}
		return false
	}
	for i := range ds.few {
		if fn(&ds.few[i].d) {
			return true
		}
	}
	return false
}
