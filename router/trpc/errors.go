package trpc

import (
	"errors"
	"fmt"
)

// Call errors. Pool.Call wraps one of them (test with errors.Is) so callers
// can map each to what clients see: a timeout, a backend that cannot be
// reached, a backend given a rest by the breaker, a local overload.
var (
	// ErrTimeout: no answer within the call's timeout. Also matches
	// context.DeadlineExceeded when the caller's context expired.
	ErrTimeout = errors.New("trpc: call timed out")
	// ErrUnavailable: the backend could not be dialled (refused, no route,
	// dial timeout) or the connection broke before the answer came.
	ErrUnavailable = errors.New("trpc: backend unavailable")
	// ErrBreakerOpen: the address failed too often lately; the call was not
	// attempted.
	ErrBreakerOpen = errors.New("trpc: circuit breaker open")
	// ErrOverloaded: every connection to the address has its maximum of
	// calls in flight.
	ErrOverloaded = errors.New("trpc: too many calls in flight")
	// ErrClosed: the Pool or Server is closed.
	ErrClosed = errors.New("trpc: closed")

	// errEvicted: the address was forgotten (idle or LRU) while a call was
	// about to use it; Call looks it up again. Should it ever escape, it
	// is an ErrUnavailable.
	errEvicted = fmt.Errorf("%w: address evicted", ErrUnavailable)
)

// Error is a tRPC error response: the backend answered, with a framework
// code (Ret, e.g. 12 = no such func) or its own code (FuncRet).
type Error struct {
	Ret     int32
	FuncRet int32
	Msg     string
}

func (e *Error) Error() string {
	return fmt.Sprintf("trpc: ret %d func_ret %d: %s", e.Ret, e.FuncRet, e.Msg)
}
