// Package registry knows who is where (Sessions): live sessions, the rooms
// they are in, and the rooms each device was put in (restored when it
// reconnects); and which environment a dyed user's commands go to (Dyes).
package registry

import (
	"context"
	"errors"
	"time"
)

// Session is one live client connection.
type Session struct {
	ID          string    `json:"id"`
	User        string    `json:"user"`
	Device      string    `json:"device"`
	Node        string    `json:"node"`
	ConnectedAt time.Time `json:"connected_at"`
}

// Arrived is what Arrive learnt: the rooms remembered for the session's
// device, recorded for Enter, and how many live sessions its user has now,
// this one included (for --max-sessions-per-user).
type Arrived struct {
	Rooms    []string
	Sessions int
}

// ErrUnavailable wraps failures of the backing store (e.g. Redis down).
var ErrUnavailable = errors.New("registry unavailable")

// Registry is every role of the store: one struct (Memory, Redis) plays
// them all. Code that needs one role takes that role's interface.
type Registry interface {
	Sessions
	Dyes
}

// Sessions is who is where: live sessions, their rooms and the nodes holding
// them, and the rooms remembered per device. It is safe for concurrent use;
// every method may block on the store. Lists come in no particular order.
type Sessions interface {
	// Add records a live session; adding an existing id replaces it (its
	// room memberships stay, on the new node if the node changed). A session
	// id belongs to one user for its life.
	Add(ctx context.Context, s Session) error
	// Arrive is Add for a new session, with what its arrival needs next: the
	// rooms remembered for its device (sorted, at most maxRooms), recorded
	// as rooms the session is put in, so that the caller may Enter them.
	Arrive(ctx context.Context, s Session, maxRooms int) (Arrived, error)
	// Enter makes s a member of rooms that Arrive returned for it. Unlike
	// Join it does not check that s is still live: the caller must not
	// Remove s before Enter returned (a Remove after it cleans up).
	Enter(ctx context.Context, s Session, rooms []string) error
	// Remove forgets sessions (each s.ID, of s.User) and their room
	// memberships, all of them in the same few round trips (a node's
	// disconnect storm goes in batches). Unknown sessions are no error; on
	// an error some may be removed and the others not, and removing them
	// all again is safe.
	Remove(ctx context.Context, sessions ...Session) error
	// UserSessions lists the live sessions of user.
	UserSessions(ctx context.Context, user string) ([]Session, error)
	// Join puts a live session in room; Leave takes it out. Both are
	// idempotent. Joining a session that is not live (never added, or
	// removed) does nothing, so a late join leaves no ghost member.
	Join(ctx context.Context, room string, s Session) error
	Leave(ctx context.Context, room string, s Session) error
	// Room counts the sessions in room and lists the nodes holding them,
	// each once.
	Room(ctx context.Context, room string) (members int, nodes []string, err error)
	// RoomNodes counts room's sessions on each node holding some.
	RoomNodes(ctx context.Context, room string) (map[string]int, error)
	// RememberRoom records (joined=true) or forgets that a device is in room,
	// so a reconnect of that device rejoins it. A device's rooms are kept
	// for the configured DeviceTTL after its last RememberRoom(joined=true).
	RememberRoom(ctx context.Context, user, device, room string, joined bool) error
	// DeviceRooms lists the rooms remembered for a device.
	DeviceRooms(ctx context.Context, user, device string) ([]string, error)
	// NodeSessions counts the live sessions of each of nodes; nodes without
	// any are left out.
	NodeSessions(ctx context.Context, nodes []string) (map[string]int, error)
	// KeepNode counts node's live sessions, and keeps its index from the
	// store-side expiry that removes the index of a node that died with no
	// one left to purge it. Each node calls it for itself periodically.
	KeepNode(ctx context.Context, node string) (int, error)
	// PurgeNode forgets every session of node and its room memberships, and
	// returns how many it removed.
	PurgeNode(ctx context.Context, node string) (int, error)
}

// Dyes routes a user's commands to an environment ("dyeing", for a tester's
// traffic). It is safe for concurrent use; every method may block on the
// store.
type Dyes interface {
	// SetDye routes user's commands to environment env for ttl (> 0);
	// env "" clears it.
	SetDye(ctx context.Context, user, env string, ttl time.Duration) error
	// Dye is user's environment, "" when none.
	Dye(ctx context.Context, user string) (string, error)
	// Dyes lists the dyed users (at most MaxDyes), by user.
	Dyes(ctx context.Context) ([]Dye, error)
}

// Dye is one dyed user.
type Dye struct {
	User, Env string
	Expires   time.Time
}

// MaxDyes bounds what Dyes lists: dyes are for a few testers.
const MaxDyes = 10000

// Config is shared by the implementations. Zero values take the defaults.
type Config struct {
	// DeviceTTL is how long a device's remembered rooms outlive its last join (default 24h).
	DeviceTTL time.Duration
	// MaxDevicesPerUser bounds the devices of one user with remembered rooms:
	// a join that remembers a device past it forgets the user's least
	// recently joined device (default DefaultMaxDevicesPerUser).
	MaxDevicesPerUser int
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}
