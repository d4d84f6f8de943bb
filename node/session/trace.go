package session

import (
	"courier/router/mailbox"
	"courier/router/opsbus"
)

// Tracer takes the events of the users someone traces (GET /v1/trace,
// node/opsbus). Traced is on the delivery path: it must be cheap while
// nobody traces anyone. Publish never blocks. Safe for concurrent use.
type Tracer interface {
	Traced(user string) bool
	Publish(ev opsbus.Event)
}

// Traced reports whether someone traces this session's user now.
func (s *Session) Traced() bool {
	t := s.opt.Tracer
	return t != nil && t.Traced(s.User)
}

// Publish hands ev, about this session, to the tracer; call it only when
// Traced (building an event is not free).
func (s *Session) Publish(ev opsbus.Event) {
	ev.User, ev.Device, ev.Session = s.User, s.Device, s.ID()
	s.opt.Tracer.Publish(ev)
}

// traceMsg publishes what happened to m here: deliver, resend or ack. A
// live message carries its push's trace id, so the push's record gets it.
func (s *Session) traceMsg(typ string, m *mailbox.Message) {
	s.Publish(opsbus.Event{Type: typ, ID: m.ID, Seq: m.Seq, Event: m.Event, Room: m.Room, TraceID: m.Trace})
}
