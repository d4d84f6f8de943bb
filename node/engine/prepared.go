package engine

import (
	"encoding/json"
	"sync"
)

// Prepared is one event for many connections (a room or broadcast fan-out):
// its JSON is encoded once, by the first connection that needs it, and then
// shared. Event and Args must not change after NewPrepared.
type Prepared struct {
	Event string
	Args  []any

	once sync.Once
	json []byte // ["event",args...]; nil when it cannot be shared (binary)
}

// NewPrepared makes a Prepared; nothing is encoded until a Conn sends it.
func NewPrepared(event string, args []any) *Prepared {
	return &Prepared{Event: event, Args: args}
}

// body is the shared JSON array, or false when each connection must encode
// the event itself (binary attachments, or a value JSON cannot encode).
func (p *Prepared) body() ([]byte, bool) {
	p.once.Do(func() {
		data := make([]any, 0, len(p.Args)+1)
		data = append(data, p.Event)
		data = append(data, p.Args...)
		if hasBinary(data) {
			return
		}
		if b, err := json.Marshal(data); err == nil {
			p.json = b
		}
	})
	return p.json, p.json != nil
}
