// Package hub is this node's post office: it holds the node's sessions,
// indexed by user and room (the way centrifuge's Hub owns broadcast), and
// carries a push from acceptance to the sessions that read it, on this node
// and, through the peer links, on the others.
//
// A push flows through it in one direction:
//
//	Push (push.go): validate (node/push) -> claim the idempotency id ->
//	  append to each addressed stream (mailbox) -> deliverLocal -> fanOutRemote
//	HandleEnvelopes (envelopes.go), on the holding node: deliverLocal
//	session.Deliver (node/session): emit, the client acks, the ack is stored
//
// Room membership and a user's sessions change through the same type
// (rooms.go, users.go, sessions.go), so the index and the registry agree.
package hub

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"courier/node/errcode"
	"courier/node/push"
	"courier/node/session"
	"courier/node/trace"
	"courier/router/arrival"
	"courier/router/forward"
	"courier/router/mailbox"
	"courier/router/registry"
)

// Peers is the hub's way to the other nodes. Implementations are safe for
// concurrent use and never block on the network: Send queues.
type Peers interface {
	// Enabled reports whether this node is in a cluster; false makes every
	// other method unnecessary.
	Enabled() bool
	// Others lists the alive nodes other than this one.
	Others() []string
	// Send queues env for node and reports whether it was taken; false
	// (no link, link down, queue full) means the mailbox must serve it.
	Send(node string, env forward.Envelope) bool
}

// Metrics receives what the hub counts. Safe for concurrent use and cheap.
type Metrics interface {
	Pushed(target string) // an accepted push, by push.Target.Kind
	PeerDropped()         // an envelope a peer link did not take
	PeerRefused()         // an envelope from a peer that broke the rules of input
	// Handed is how long after its push a live message reached this node's
	// sessions (once per message and node, not per session).
	Handed(sincePush time.Duration)
}

// Config builds a Hub. Node, Mailbox, Registry, MaxRooms and Log are
// required; the rest have defaults.
type Config struct {
	Node string // this node's id, as registered with sessions
	// Mailbox: the log pushes are appended to, the claims of idempotency
	// ids, and the nudges left for nodes a link could not reach.
	Mailbox  mailbox.Mailbox
	Registry registry.Sessions
	// Arrival does a new session's store work in a batch (router/arrival).
	Arrival arrival.Store
	// Peers is nil for a node alone (no gossip).
	Peers    Peers
	Limits   push.Limits
	MaxRooms int // rooms one session may be in
	// MaxSessionsPerUser closes a user's oldest sessions, cluster-wide, when
	// an arrival takes the user past it (0: no bound).
	MaxSessionsPerUser int
	Metrics            Metrics
	Log                *slog.Logger
	// DyeOf is a user's dye ("" none): deliveries to a dyed user are
	// logged, the trace of a tester's messages. Nil: none. It must not
	// block (a snapshot).
	DyeOf func(user string) string
	// Tracer takes the events of traced users: connects, disconnects,
	// pushes, joins and leaves (the sessions publish their deliveries and
	// acks). Nil: nobody is traced.
	Tracer session.Tracer
}

// Hub holds this node's sessions and delivers pushes to them. Safe for
// concurrent use; every method that takes a ctx may block on the store.
type Hub struct {
	cfg       Config
	log       *slog.Logger
	local     *index
	arriving  atomic.Int64 // sessions in the index whose registration is under way
	missing   missing      // sessions in the index whose registration failed
	departing *departures  // closed sessions on their way out of the registry
	all       allLog
}

// New makes a Hub.
func New(cfg Config) (*Hub, error) {
	switch {
	case cfg.Node == "" || cfg.Mailbox == nil || cfg.Registry == nil || cfg.Arrival == nil || cfg.Log == nil:
		return nil, errors.New("hub: Config.Node, Mailbox, Registry, Arrival and Log are required")
	case cfg.MaxRooms < 1:
		return nil, errors.New("hub: Config.MaxRooms must be positive")
	}
	if cfg.Peers == nil {
		cfg.Peers = alone{}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	return &Hub{cfg: cfg, log: cfg.Log, local: newIndex(), departing: newDepartures(cfg.Registry, cfg.Log)}, nil
}

// unavailable logs a store failure and answers the retryable 503.
func (h *Hub) unavailable(ctx context.Context, err error) error {
	h.log.Warn("store failed", "trace", trace.ID(ctx), "err", err)
	return errcode.New(errcode.Unavailable, "message store unavailable, the push was not accepted; retry with the same id")
}

// alone is Peers for a node without a cluster.
type alone struct{}

func (alone) Enabled() bool                      { return false }
func (alone) Others() []string                   { return nil }
func (alone) Send(string, forward.Envelope) bool { return false }

type noMetrics struct{}

func (noMetrics) Pushed(string)        {}
func (noMetrics) PeerDropped()         {}
func (noMetrics) Handed(time.Duration) {}
func (noMetrics) PeerRefused()         {}

// registryEntry is how the registry knows s.
func (h *Hub) registryEntry(s *session.Session) registry.Session {
	return registry.Session{ID: s.ID(), User: s.User, Device: s.Device, Node: h.cfg.Node, ConnectedAt: s.ConnectedAt()}
}
