// Package errcode is the one table of error codes clients and business
// servers see: in push API error bodies and in socket.io acknowledgements
// ({"ok": false, "error": {"code", "message"}}). The SDKs share this table.
package errcode

import "net/http"

// Code is a stable, machine-readable error code.
type Code string

const (
	BadRequest       Code = "bad_request"       // malformed JSON or a missing field
	Unauthorized     Code = "unauthorized"      // no or bad API key / token
	Forbidden        Code = "forbidden"         // the token does not allow it (e.g. joining a room)
	NotFound         Code = "not_found"         // no such route
	TooLarge         Code = "payload_too_large" // data over the limit
	RateLimited      Code = "rate_limited"      // too many requests for this key
	Conflict         Code = "conflict"          // an idempotency id reused for another request
	LimitExceeded    Code = "limit_exceeded"    // a per-connection bound (rooms, commands in flight) is reached
	ReservedEvent    Code = "reserved_event"    // event name the protocol keeps for itself
	UnknownEvent     Code = "unknown_event"     // a client event the server does not serve
	Unavailable      Code = "unavailable"       // the store (Redis) or a backend is down; retry
	Timeout          Code = "timeout"           // a backend did not answer in time
	BackendError     Code = "backend_error"     // a backend answered with an error (ret / func_ret)
	ShuttingDown     Code = "shutting_down"     // the node is draining; retry elsewhere
	Internal         Code = "internal"          // a bug: see the node's log by trace id
	MethodNotAllowed Code = "method_not_allowed"
)

// HTTPStatus is the status that goes with a code in the push API.
func (c Code) HTTPStatus() int {
	switch c {
	case BadRequest, ReservedEvent, UnknownEvent, LimitExceeded:
		return http.StatusBadRequest
	case Unauthorized:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case RateLimited:
		return http.StatusTooManyRequests
	case Conflict:
		return http.StatusConflict
	case Unavailable, ShuttingDown:
		return http.StatusServiceUnavailable
	case Timeout:
		return http.StatusGatewayTimeout
	case BackendError:
		return http.StatusBadGateway
	default:
		return http.StatusInternalServerError
	}
}

// Error is an error that carries a code; its JSON form is what clients see.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// New makes an *Error.
func New(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// All lists every code, for the SDKs' generated table and its test.
var All = []Code{BadRequest, Unauthorized, Forbidden, NotFound, TooLarge, RateLimited, Conflict, LimitExceeded, ReservedEvent,
	UnknownEvent, Unavailable, Timeout, BackendError, ShuttingDown, Internal, MethodNotAllowed}
