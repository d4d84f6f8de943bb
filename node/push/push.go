// Package push is the push contract (node/README.md, Push API and
// Delivery guarantees): what a push request is and
// the one set of rules every way in (the HTTP API, the tRPC push service,
// polling tasks) checks it against. It holds no behaviour beyond checking;
// the flow of an accepted push is node/hub's.
package push

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"courier/node/errcode"
)

// The bounds of a push. They are defined here only; the node's flags
// (--max-data-bytes, --default-ttl) choose within them.
const (
	// DefaultMaxDataBytes bounds a push's data when the node sets no other
	// limit: 64 KiB. The data of HTTP calls and polling tasks shares the
	// bound.
	DefaultMaxDataBytes = 64 << 10
	// MaxTTL is the longest a message may be cached.
	MaxTTL = 7 * 24 * time.Hour
	// MaxEventLen bounds an event name (bytes).
	MaxEventLen = 128
	// MaxTargets bounds the users and rooms one push names.
	MaxTargets = 10000
	// MaxNameLen bounds user, device, room names and idempotency ids (bytes).
	MaxNameLen = 256
	// IdempotencyWindow is how long a push id keeps answering its first
	// message id.
	IdempotencyWindow = 10 * time.Minute
)

// Target says who a push goes to.
type Target struct {
	Users []string `json:"users,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
	All   bool     `json:"all,omitempty"`
}

// Kind names the target for metrics: all, users, rooms or mixed.
func (t Target) Kind() string {
	switch {
	case t.All:
		return "all"
	case len(t.Rooms) > 0 && len(t.Users) > 0:
		return "mixed"
	case len(t.Rooms) > 0:
		return "rooms"
	default:
		return "users"
	}
}

// Request is the body of POST /v1/push and of the tRPC push service.
type Request struct {
	To    Target          `json:"to"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	// TTL in seconds; nil takes the node's default, 0 is fire-and-forget.
	TTL *float64 `json:"ttl,omitempty"`
	// ID is an optional idempotency key (idempotency.go): within
	// IdempotencyWindow the same key with the same request answers the
	// first message id and delivers nothing new; with another request, a
	// Conflict.
	ID string `json:"id,omitempty"`
	// Scope is whose ID it is, set by the way in (a digest of the API key
	// the request came with, KeyScope), never by the request: ids of
	// different keys never collide.
	Scope string `json:"-"`
}

// Result answers an accepted push.
type Result struct {
	ID string `json:"id"`
}

// Limits are the node's choices within the contract's bounds. Zero values
// take the defaults.
type Limits struct {
	MaxDataBytes int           // default DefaultMaxDataBytes
	DefaultTTL   time.Duration // ttl of a push that names none; default 300s
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxDataBytes == 0 {
		l.MaxDataBytes = DefaultMaxDataBytes
	}
	if l.DefaultTTL == 0 {
		l.DefaultTTL = 300 * time.Second
	}
	return l
}

// Validate checks req against the contract and returns its ttl (0:
// fire-and-forget). Errors are *errcode.Error: bad_request,
// reserved_event, or payload_too_large.
func Validate(req *Request, l Limits) (time.Duration, error) {
	l = l.WithDefaults()
	bad := func(msg string) (time.Duration, error) { return 0, errcode.New(errcode.BadRequest, msg) }
	switch {
	case len(req.Data) > l.MaxDataBytes:
		return 0, TooLarge(l.MaxDataBytes)
	case req.Event == "":
		return bad(`"event" is required`)
	case len(req.Event) > MaxEventLen:
		return bad(fmt.Sprintf(`"event" is longer than %d bytes`, MaxEventLen))
	case IsReserved(req.Event):
		return 0, errcode.New(errcode.ReservedEvent, `event "`+req.Event+`" is reserved by the protocol and cannot be pushed`)
	case !req.To.All && len(req.To.Users) == 0 && len(req.To.Rooms) == 0:
		return bad(`"to" must name users, rooms, or all`)
	case req.To.All && (len(req.To.Users) > 0 || len(req.To.Rooms) > 0):
		return bad(`"to.all" cannot be combined with users or rooms`)
	case len(req.To.Users)+len(req.To.Rooms) > MaxTargets:
		return bad(fmt.Sprintf(`"to" names more than %d users and rooms`, MaxTargets))
	case len(req.ID) > MaxNameLen:
		return bad(fmt.Sprintf(`"id" is longer than %d bytes`, MaxNameLen))
	}
	for _, names := range [][]string{req.To.Users, req.To.Rooms} {
		for _, name := range names {
			if !ValidName(name) {
				return bad("user and room names must be 1-256 bytes of UTF-8")
			}
		}
	}
	if req.TTL == nil {
		return l.DefaultTTL, nil
	}
	ttl := *req.TTL
	if ttl < 0 || math.IsNaN(ttl) || ttl > MaxTTL.Seconds() {
		return bad(fmt.Sprintf(`"ttl" must be between 0 and %d seconds`, int(MaxTTL.Seconds())))
	}
	return time.Duration(ttl * float64(time.Second)), nil
}

// TooLarge is the error for data over limit bytes.
func TooLarge(limit int) *errcode.Error {
	return errcode.New(errcode.TooLarge, fmt.Sprintf("data is over the limit of %d bytes", limit))
}

// IsReserved reports event names the socket.io protocol or courier keep:
// they cannot be pushed.
func IsReserved(event string) bool {
	switch event {
	case "connect", "disconnect", "connect_error", "disconnecting", "newListener", "removeListener":
		return true
	}
	return strings.HasPrefix(event, "courier:")
}

// ValidName reports whether s may name a user, device or room: 1 to
// MaxNameLen bytes of UTF-8.
func ValidName(s string) bool {
	return s != "" && len(s) <= MaxNameLen && utf8.ValidString(s)
}

// BadName is the error for an invalid user, device or room name; what says
// which.
func BadName(what string) *errcode.Error {
	return errcode.New(errcode.BadRequest, what+" name must be 1-256 bytes of UTF-8")
}
