package polls

import (
	"context"
	"errors"
	"time"
)

// Store keeps the tasks of the cluster, who runs each one (a lease), and
// the last answer each one pushed. Implementations are safe for concurrent
// use by many nodes: the memory one within a process, the Redis one across
// a cluster. Every method is one atomic step (one Lua script on Redis).
//
// Leases: Acquire grants a task to one node until expiry (judged by the
// store's Config.Now, never the server's clock) and returns a fencing token
// that is larger than every token issued before it, for any task. While a
// lease is unexpired nobody else can acquire it; its holder extends it with
// Renew. SetLastResult accepts only the newest token of a task, so a holder
// that paused past its lease and was replaced cannot overwrite what the new
// holder recorded, and learns that it must stop.
type Store interface {
	// Put creates or replaces a task; created is false for a replacement.
	// A replacement that changes anything keeps the lease but forgets the
	// last result, so the changed task pushes its next answer.
	Put(ctx context.Context, t Task) (created bool, err error)
	// Delete removes a task, its lease and its result; existed reports
	// whether there was one.
	Delete(ctx context.Context, name string) (existed bool, err error)
	// Get returns one task.
	Get(ctx context.Context, name string) (Task, bool, error)
	// List returns every task, sorted by name.
	List(ctx context.Context) ([]Task, error)

	// Acquire grants the task to node for ttl when it exists and nobody
	// else holds an unexpired lease (node itself may: a restarted node
	// with the same id takes its task back at once, with a new token).
	Acquire(ctx context.Context, name, node string, ttl time.Duration) (token uint64, ok bool, err error)
	// Renew extends the lease for ttl from now when node still holds it
	// with token; an expired lease nobody took since may be renewed.
	Renew(ctx context.Context, name, node string, token uint64, ttl time.Duration) (bool, error)
	// Release gives the lease up (at a graceful stop) so another node takes
	// the task at its next scan instead of at expiry. A lease no longer
	// held with token is left alone.
	Release(ctx context.Context, name, node string, token uint64) error
	// Lease returns the current, unexpired lease of a task.
	Lease(ctx context.Context, name string) (Lease, bool, error)

	// LastResult returns what the task last recorded.
	LastResult(ctx context.Context, name string) (Result, bool, error)
	// SetLastResult records hash as the task's newest answer, at now. It is
	// refused (false) unless the task exists and its lease (expired or not,
	// but not released or taken over) carries token.
	SetLastResult(ctx context.Context, name string, token uint64, hash string) (bool, error)
}

// Lease is who runs a task.
type Lease struct {
	Node    string
	Token   uint64
	Expires time.Time
}

// Result is a task's last recorded answer.
type Result struct {
	Hash    string    // canonical hash of the answer
	Token   uint64    // the fencing token it was recorded with
	At      time.Time // when it was last recorded (the last run)
	Changed time.Time // when Hash last changed
}

// Config configures a Store. Zero values take the defaults.
type Config struct {
	// Now is the clock that judges lease expiry (default time.Now). Every
	// node of a cluster should run NTP: a node whose clock runs ahead sees
	// leases expire early.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// ErrUnavailable wraps every error of a store that could not be reached.
var ErrUnavailable = errors.New("polls: store unavailable")
