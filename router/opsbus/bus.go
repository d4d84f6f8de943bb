// Package opsbus is the operators' channel across the cluster:
//
//   - live traces: every node publishes the events of the users someone
//     watches (GET /v1/trace?user=U), and they reach the watching node
//     within a second, wherever they happened;
//   - trace records: the events of one API call or command, kept by trace
//     id for a while (GET /v1/trace?trace=ID);
//   - settings every node takes at once (the log level), and each node's
//     figures for the operator's view of the cluster.
//
// Memory serves one node; Redis a cluster (pub/sub for events and
// settings, short-lived keys for watches, records and figures). Nothing on
// it is needed for delivery: when the bus fails, traces have gaps and
// nothing else changes.
package opsbus

import (
	"context"
	"errors"
	"time"
)

// Event is one thing that happened to a user's session or message, or one
// call, as GET /v1/trace streams it (SPEC, Operations).
type Event struct {
	TS      time.Time `json:"ts"`
	Node    string    `json:"node"`
	User    string    `json:"user,omitempty"`
	Device  string    `json:"device,omitempty"`
	Session string    `json:"session,omitempty"`
	// Type is one of the Type* constants.
	Type    string  `json:"type"`
	TraceID string  `json:"trace_id,omitempty"`
	ID      string  `json:"id,omitempty"`  // the message's (push, deliver, ack, resend)
	Seq     uint64  `json:"seq,omitempty"` // the message's in its stream
	Event   string  `json:"event,omitempty"`
	Reason  string  `json:"reason,omitempty"` // disconnect
	Room    string  `json:"room,omitempty"`   // join, leave; a room push
	Name    string  `json:"name,omitempty"`   // cmd
	MS      float64 `json:"ms,omitempty"`     // cmd
	Code    string  `json:"code,omitempty"`   // cmd: "ok" or the error code
	// Users counts the addressees of an API call (trace records only).
	Users int `json:"users,omitempty"`
	// LiveOnly: for the user's watchers, not the trace record (the call's
	// own record tells it already).
	LiveOnly bool `json:"-"`
}

// The event types.
const (
	TypeConnect    = "connect"
	TypeDisconnect = "disconnect"
	TypePush       = "push"
	TypeDeliver    = "deliver"
	TypeAck        = "ack"
	TypeResend     = "resend"
	TypeJoin       = "join"
	TypeLeave      = "leave"
	TypeCmd        = "cmd"
)

// Setting is a change every node of the cluster takes (PUT
// /v1/admin/log-level with "cluster": true).
type Setting struct {
	Name  string `json:"name"` // "log-level"
	Value string `json:"value"`
	From  string `json:"from"` // the node that asked
}

// NodeFigures is what a node reports of itself for the operator's view of
// the cluster.
type NodeFigures struct {
	Node        string    `json:"node"`
	At          time.Time `json:"at"`
	Sessions    int       `json:"sessions"`
	MsgsPerSec  float64   `json:"msgs_per_s"`   // messages handed to this node's sessions
	MemoryBytes uint64    `json:"memory_bytes"` // the Go runtime's, from the OS's view
	LogLevel    string    `json:"log_level"`
}

// Bus is the operators' channel. Every method is safe for concurrent use.
type Bus interface {
	// Traced reports whether someone anywhere in the cluster watches user
	// now. The delivery path calls it for every message, so it is cheap: one
	// atomic load when nobody watches anyone. A watch started on another
	// node is seen within a second.
	Traced(user string) bool
	// Watch streams the events of user published on any node, until ctx
	// ends or the bus closes; then the channel closes. A reader that falls
	// behind loses events (the channel holds 256), never slows publishers.
	Watch(ctx context.Context, user string) (<-chan Event, error)
	// Publish hands ev to the watchers of ev.User (when Traced) and, when
	// ev.TraceID is set and not LiveOnly, records it under that id. It never blocks: events
	// wait in a bounded queue, and past it they are dropped and counted.
	Publish(ev Event)
	// Trace returns the events recorded under a trace id in the last Keep,
	// oldest first (at most 1000: the newest).
	Trace(ctx context.Context, traceID string) ([]Event, error)
	// Announce hands s to every node's OnSetting, this one's included.
	Announce(ctx context.Context, s Setting) error
	// OnSetting sets what takes settings; call it before the bus is used.
	OnSetting(fn func(Setting))
	// Report records this node's figures; Figures returns every node's
	// latest report that is younger than 15 s.
	Report(ctx context.Context, f NodeFigures) error
	Figures(ctx context.Context) ([]NodeFigures, error)
	// Dropped counts events lost to a full queue or a failed store.
	Dropped() uint64
	Close()
}

// Config is shared by the implementations. Zero values take the defaults.
type Config struct {
	Node string        // this node's id
	Keep time.Duration // how long trace records are kept; default 10m
	Now  func() time.Time
}

// DefaultKeep is how long trace records are kept by default (--trace-keep).
const DefaultKeep = 10 * time.Minute

// Limits of what the bus holds.
const (
	watchBuffer     = 256  // events a watcher's channel holds
	maxTraceEvents  = 1000 // events kept per trace id
	figuresLifetime = 15 * time.Second
)

// ErrClosed is returned by Watch once the bus is closed.
var ErrClosed = errors.New("opsbus: closed")

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.Keep <= 0 {
		c.Keep = DefaultKeep
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
