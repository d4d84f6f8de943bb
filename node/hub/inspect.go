package hub

import (
	"context"
	"slices"
	"strings"
	"time"

	"courier/node/push"
	"courier/node/session"
	"courier/router/mailbox"
)

// What an operator sees of a user's mailbox and a room's log (the admin
// UI). Reading changes nothing: no device becomes known, none stays alive.

// MessageInfo is one cached message as the operator's calls show it.
type MessageInfo struct {
	ID        string    `json:"id"`
	Seq       uint64    `json:"seq"`
	Event     string    `json:"event"`
	TS        time.Time `json:"ts"`
	ExpiresAt time.Time `json:"expires_at"`
}

// DeviceMailbox is one device's place in its user's mailbox.
type DeviceMailbox struct {
	Device string `json:"device"`
	// Cursor: every seq up to it is acknowledged (or gone).
	Cursor  uint64        `json:"cursor"`
	Pending []MessageInfo `json:"pending"`
	// Rooms the device is put back in when it reconnects.
	Rooms []string `json:"rooms"`
}

// MailboxInfo answers GET /v1/users/{user}/mailbox.
type MailboxInfo struct {
	User    string          `json:"user"`
	LastSeq uint64          `json:"last_seq"`
	Held    int             `json:"held"`
	Devices []DeviceMailbox `json:"devices"`
}

// inspectLimit is how many messages an operator's look lists per device
// and per room log.
const inspectLimit = 50

// Mailbox shows user's mailbox: each device known to it or connected now,
// with its cursor, pending messages and remembered rooms.
func (h *Hub) Mailbox(ctx context.Context, user string) (MailboxInfo, error) {
	if !push.ValidName(user) {
		return MailboxInfo{}, push.BadName("user")
	}
	view, err := h.cfg.Mailbox.Inspect(ctx, mailbox.UserStream(user), inspectLimit)
	if err != nil {
		return MailboxInfo{}, h.unavailable(ctx, err)
	}
	sessions, err := h.cfg.Registry.UserSessions(ctx, user)
	if err != nil {
		return MailboxInfo{}, h.unavailable(ctx, err)
	}
	out := MailboxInfo{User: user, LastSeq: view.Last, Held: view.Held, Devices: []DeviceMailbox{}}
	prefix := session.DeviceKeyOf(user, "")
	seen := map[string]bool{}
	for _, d := range view.Devices {
		name, ok := strings.CutPrefix(d.Device, prefix)
		if !ok {
			continue
		}
		seen[name] = true
		out.Devices = append(out.Devices, DeviceMailbox{Device: name, Cursor: d.Cursor, Pending: messageInfos(d.Pending)})
	}
	// A connected device that read nothing yet lacks every held message.
	for _, s := range sessions {
		if !seen[s.Device] {
			seen[s.Device] = true
			out.Devices = append(out.Devices, DeviceMailbox{Device: s.Device, Pending: messageInfos(oldestFirst(view.Recent))})
		}
	}
	slices.SortFunc(out.Devices, func(a, b DeviceMailbox) int { return strings.Compare(a.Device, b.Device) })
	for i := range out.Devices {
		d := &out.Devices[i]
		if d.Rooms, err = h.cfg.Registry.DeviceRooms(ctx, user, d.Device); err != nil {
			return MailboxInfo{}, h.unavailable(ctx, err)
		}
		if d.Rooms == nil {
			d.Rooms = []string{}
		}
	}
	return out, nil
}

func oldestFirst(ms []mailbox.Message) []mailbox.Message {
	out := slices.Clone(ms)
	slices.Reverse(out)
	return out
}

func messageInfos(ms []mailbox.Message) []MessageInfo {
	out := make([]MessageInfo, len(ms))
	for i, m := range ms {
		out[i] = MessageInfo{ID: m.ID, Seq: m.Seq, Event: m.Event,
			TS: time.UnixMilli(m.TS).UTC(), ExpiresAt: time.UnixMilli(m.Expires).UTC()}
	}
	return out
}

// roomDetail adds to info the members per node and the room log's newest
// messages.
func (h *Hub) roomDetail(ctx context.Context, info *RoomInfo) error {
	perNode, err := h.cfg.Registry.RoomNodes(ctx, info.Room)
	if err != nil {
		return err
	}
	view, err := h.cfg.Mailbox.Inspect(ctx, mailbox.RoomStream(info.Room), inspectLimit)
	if err != nil {
		return err
	}
	info.MembersByNode, info.LastSeq, info.Recent = perNode, view.Last, messageInfos(view.Recent)
	return nil
}
