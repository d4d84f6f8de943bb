package hub

import (
	"courier/router/mailbox"
	"courier/router/opsbus"
)

// tracePush publishes a push to a traced user's mailbox: the user's
// timeline starts there, whichever node the user is on. A room's push
// shows up as deliveries, on the members' nodes.
func (h *Hub) tracePush(st addressed, m *mailbox.Message) {
	t := h.cfg.Tracer
	if t == nil || st.user == "" || !t.Traced(st.user) {
		return
	}
	// The push's own record is the API call's (node/ops.go); this one is
	// for the user's watchers, with the seq in the user's stream.
	t.Publish(opsbus.Event{Type: opsbus.TypePush, User: st.user, ID: m.ID, Seq: m.Seq, Event: m.Event, TraceID: m.Trace, LiveOnly: true})
}
