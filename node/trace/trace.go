// Package trace names one API call, command or polling run with an id that
// follows it through the logs (and, with the caller's X-Trace-Id, through
// the business server too).
package trace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

type key struct{}

// Header carries the trace id in and out of HTTP calls; a caller's own id
// is kept.
const Header = "X-Trace-Id"

// ID returns the trace id ctx carries ("" when none).
func ID(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// NewID makes a random 16-hex-digit id.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
