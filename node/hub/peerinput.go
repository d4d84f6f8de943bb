package hub

import (
	"errors"
	"fmt"

	"courier/node/push"
	"courier/router/forward"
	"courier/router/mailbox"
)

// checkEnvelope holds a peer's envelope to the rules API input meets: a
// node whose cluster secret leaked, or a bug in another version, must not
// make this one emit a reserved event (a forged courier:disconnect), hand
// out data over the push limit, or deliver one stream to the readers of
// another.
func checkEnvelope(env *forward.Envelope, l push.Limits) error {
	l = l.WithDefaults()
	switch env.Kind {
	case forward.KindDeliver:
		return checkDelivery(env, l)
	case forward.KindJoin, forward.KindLeave:
		if !push.ValidName(env.Room) {
			return errors.New("bad room name")
		}
		if len(env.Users) == 0 || len(env.Users) > push.MaxTargets {
			return fmt.Errorf("%d users (1 to %d)", len(env.Users), push.MaxTargets)
		}
		for _, u := range env.Users {
			if !push.ValidName(u) {
				return errors.New("bad user name")
			}
		}
	case forward.KindDisconnect:
		if !push.ValidName(env.User) {
			return errors.New("bad user name")
		}
	case forward.KindReplace:
		if !push.ValidName(env.User) || len(env.Users) == 0 || len(env.Users) > push.MaxTargets {
			return fmt.Errorf("a replace names one user and 1 to %d session ids", push.MaxTargets)
		}
	}
	return nil
}

func checkDelivery(env *forward.Envelope, l push.Limits) error {
	m := &env.Msg
	switch {
	case m.ID == "" || len(m.ID) > push.MaxNameLen:
		return errors.New("bad message id")
	case m.Event == "" || len(m.Event) > push.MaxEventLen:
		return errors.New("bad event name")
	case push.IsReserved(m.Event):
		return fmt.Errorf("reserved event %q", m.Event)
	case len(m.Data) > l.MaxDataBytes:
		return fmt.Errorf("data of %d bytes, over %d", len(m.Data), l.MaxDataBytes)
	}
	var want mailbox.Stream
	switch {
	case env.User != "" && env.Room == "":
		if !push.ValidName(env.User) {
			return errors.New("bad user name")
		}
		want = mailbox.UserStream(env.User)
	case env.Room == "*" && env.User == "":
		want = mailbox.AllStream
	case env.Room != "" && env.User == "":
		if !push.ValidName(env.Room) {
			return errors.New("bad room name")
		}
		want = mailbox.RoomStream(env.Room)
	default:
		return errors.New("a delivery names one user or one room")
	}
	if env.Stream != want || m.Room != env.Room {
		return fmt.Errorf("stream %q and meta.room %q do not match the addressee", env.Stream, m.Room)
	}
	return nil
}
