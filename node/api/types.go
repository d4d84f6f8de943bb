// Package api serves the push API to business servers: JSON over HTTP
// under /v1/, authenticated with API keys; /v1/call/ for clients, with
// their own JWT; and the same push over tRPC (trpc_push.go). node/README.md
// lists the calls.
package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"courier/node/command"
	"courier/node/hub"
	"courier/node/peers"
	"courier/node/push"
	"courier/router/opsbus"
	"courier/router/registry"
)

// UsersRequest is the body of room join and leave.
type UsersRequest struct {
	Users []string `json:"users"`
}

// Service is what the node does for the API. Methods return *errcode.Error
// for anything the caller did wrong or can retry; other errors are internal.
type Service interface {
	Push(ctx context.Context, req *push.Request) (push.Result, error)
	JoinRoom(ctx context.Context, room string, users []string) error
	LeaveRoom(ctx context.Context, room string, users []string) error
	User(ctx context.Context, user string) (hub.UserInfo, error)
	Room(ctx context.Context, room string) (hub.RoomInfo, error)
	DisconnectUser(ctx context.Context, user string) (int, error)
	Cluster(ctx context.Context) (peers.ClusterInfo, error)
	// SetDye routes user's commands to environment env for ttl; "" clears it.
	SetDye(ctx context.Context, user, env string, ttl time.Duration) error
	// Dyes lists the dyed users.
	Dyes(ctx context.Context) ([]registry.Dye, error)
	// Call runs a command for an authenticated client (POST /v1/call/...).
	// A failed call returns a *command.Error.
	Call(ctx context.Context, req command.Request) (json.RawMessage, error)
	// Watch streams user's events, cluster-wide, until ctx ends (then the
	// channel closes).
	Watch(ctx context.Context, user string) (<-chan opsbus.Event, error)
	// TraceRecord returns the events kept under a trace id.
	TraceRecord(ctx context.Context, id string) ([]opsbus.Event, error)
	// Mailbox shows a user's mailbox, device by device.
	Mailbox(ctx context.Context, user string) (hub.MailboxInfo, error)
	// LogLevel is this node's log level; SetLogLevel changes it, or every
	// node's with cluster.
	LogLevel() string
	SetLogLevel(ctx context.Context, level string, cluster bool) error
}

// DyeRequest is the body of PUT /v1/dye/{user}: ttl in seconds, default
// DefaultDyeTTL, at most MaxDyeTTL.
type DyeRequest struct {
	Env string   `json:"env"`
	TTL *float64 `json:"ttl,omitempty"`
}

// DyeInfo is one dyed user as PUT and GET /v1/dye answer it.
type DyeInfo struct {
	User      string    `json:"user"`
	Env       string    `json:"env"`
	ExpiresAt time.Time `json:"expires_at"`
}

const (
	DefaultDyeTTL = 24 * time.Hour
	MaxDyeTTL     = 30 * 24 * time.Hour
)

// Config sets the API's limits. Zero values take the defaults.
type Config struct {
	Keys []string
	// MaxDataBytes bounds a push's and a call's data (default
	// push.DefaultMaxDataBytes).
	MaxDataBytes int
	// RatePerKey limits requests per second per API key (0: no limit).
	RatePerKey float64
	// Now is the clock for rate limiting (default time.Now).
	Now func() time.Time
	// VerifyToken checks a client JWT for POST /v1/call/ and returns the user.
	VerifyToken func(token string) (user string, err error)
	// AuthenticateRequest names the user of a /v1/call/ without a client
	// JWT (the auth hook, from its cookies); nil: such calls are refused.
	// Errors are *errcode.Error.
	AuthenticateRequest func(r *http.Request) (user string, err error)
	// Origin tells the backend of a /v1/call/ where it came from (client
	// IP, forwarded headers); nil: nothing.
	Origin func(r *http.Request) command.Origin
	// AdminAuth reports whether a request without a valid API key carries
	// admin credentials (node/admin: the UI's session cookie, or
	// "Authorization: Bearer <admin key>"); such a request may do what an
	// API key does. nil: none do.
	AdminAuth func(r *http.Request) bool
}
