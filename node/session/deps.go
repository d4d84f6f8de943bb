// Package session is one client connection: who it is, which streams (its
// user's mailbox, its rooms' logs, the log of pushes to all) it reads, what
// it has in flight, and its bounded send queue. Which rooms it is in is the
// hub's index (node/hub).
//
// A session holds no goroutine while idle: a worker starts when there is work
// (a live message, an ack, a replay, a timeout) and ends when there is none.
package session

import (
	"context"
	"log/slog"
	"time"

	"courier/router/mailbox"
)

// Metrics receives what sessions count. Implementations must be safe for
// concurrent use and cheap.
type Metrics interface {
	Delivered()
	Acked()
	Retried()
	Disconnected(reason string)
}

// Options are shared by every session of a node.
type Options struct {
	Node       string
	Mailbox    mailbox.Log // replays read it, acks are written to it
	Metrics    Metrics
	Log        *slog.Logger
	AckTimeout time.Duration // resend an unacked message after this long
	AckRetries int           // resends while connected, then it waits for a reconnect
	QueueLimit int           // queued live messages beyond this disconnect the client
	Window     int           // unacked messages in flight at once
	Now        func() time.Time
	// Context is the node's lifetime (nil: none): the sessions' mailbox
	// reads derive from it, so a stopped node abandons them.
	Context context.Context
	// Tracer takes the events of traced users (nil: nobody is traced).
	Tracer Tracer

	// Shared by the sessions; an Options must not be copied.
	acks ackWriter
	prep prepCache
}

// Disconnect reasons, as counted by metrics and logged.
const (
	ReasonClientClose  = "client"
	ReasonSlowConsumer = "slow_consumer"
	ReasonKicked       = "kicked"
	ReasonShutdown     = "shutdown"
	ReasonTokenExpired = "token_expired"
	// ReasonReplaced: the user opened more sessions than
	// --max-sessions-per-user allows and this was the oldest.
	ReasonReplaced = "replaced"
)

// replayBatch is how many cached messages one mailbox read fetches.
const replayBatch = 100
