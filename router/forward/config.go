package forward

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"
)

// ServerConfig configures the receiving side. Zero values take the defaults.
type ServerConfig struct {
	// Listen is the TCP address to serve links on ("127.0.0.1:0" picks a port).
	Listen string
	// Secret is the cluster secret. Empty: only loopback peers are accepted.
	Secret string
	// NodeID is this node's id (for logs).
	NodeID string
	Log    *slog.Logger
	// Handler gets each decoded batch with the authenticated sender's id
	// (also in every Envelope.From). It is called from the connection's read
	// loop, one batch at a time per peer, so envelopes from one peer arrive
	// in the order they were sent; a slow Handler slows that peer's link
	// (TCP pushes back, the sender's queue fills, and it drops). It owns the
	// slice and everything in it.
	Handler func(from string, env []Envelope)

	// MaxFrame bounds one frame's payload (default 16 MiB).
	MaxFrame int64
	// ReadTimeout closes a link that sent nothing, not even a ping, for this
	// long (default 30s; dialers ping every LinksConfig.PingInterval).
	ReadTimeout time.Duration
	// HandshakeTimeout bounds the upgrade request (default 10s).
	HandshakeTimeout time.Duration
	// MaxSkew is how far a dialer's timestamp may be from our clock (default 30s).
	MaxSkew time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *ServerConfig) Validate() error {
	if c.Handler == nil {
		return errors.New("forward: ServerConfig.Handler is required")
	}
	if c.MaxFrame < 0 || c.ReadTimeout < 0 || c.HandshakeTimeout < 0 || c.MaxSkew < 0 {
		return errors.New("forward: negative ServerConfig limit")
	}
	return nil
}

func (c *ServerConfig) defaults() {
	c.Log = orDiscard(c.Log)
	c.MaxFrame = or(c.MaxFrame, 16<<20)
	c.ReadTimeout = or(c.ReadTimeout, 30*time.Second)
	c.HandshakeTimeout = or(c.HandshakeTimeout, 10*time.Second)
	c.MaxSkew = or(c.MaxSkew, 30*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// LinksConfig configures the sending side. Zero values take the defaults.
type LinksConfig struct {
	// NodeID is this node's id, sent in every handshake (required).
	NodeID string
	// Secret is the cluster secret; it must equal the peers' ServerConfig.Secret.
	Secret string
	Log    *slog.Logger

	// QueueLimit bounds the envelopes waiting per peer, counting the batch
	// being written (default 10000); QueueBytes bounds their approximate
	// size (default 64 MiB). Past either, Send drops.
	QueueLimit int
	QueueBytes int
	// MaxEnvelope refuses a single envelope larger than this (default
	// 1 MiB): it would need a frame the peer may refuse, again and again.
	MaxEnvelope int
	// BatchMax and BatchBytes bound one frame: at most BatchMax envelopes
	// (default 256), and no more once the payload reaches BatchBytes
	// (default 256 KiB). A frame carries whatever is queued, up to these.
	BatchMax   int
	BatchBytes int

	// DialTimeout bounds connect plus handshake (default 5s).
	DialTimeout time.Duration
	// WriteTimeout bounds one frame write: a peer that stops reading for
	// this long is dropped and redialed (default 10s).
	WriteTimeout time.Duration
	// PingInterval is how often an open link pings (default 5s); a link that
	// hears nothing back (pongs) for ReadTimeout (default 3 pings) is
	// considered dead and redialed.
	PingInterval time.Duration
	ReadTimeout  time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential wait between
	// dials (defaults 100ms and 10s).
	BackoffMin time.Duration
	BackoffMax time.Duration
	// Now is the clock used for handshake timestamps (default time.Now).
	Now func() time.Time
	// NetDial opens the TCP connection (default net.Dialer); tests use it
	// to cut or slow links between nodes of one process.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c *LinksConfig) Validate() error {
	if c.NodeID == "" {
		return errors.New("forward: LinksConfig.NodeID is required")
	}
	for _, d := range []time.Duration{c.DialTimeout, c.WriteTimeout, c.PingInterval, c.ReadTimeout, c.BackoffMin, c.BackoffMax} {
		if d < 0 {
			return errors.New("forward: negative LinksConfig duration")
		}
	}
	if c.QueueLimit < 0 || c.QueueBytes < 0 || c.MaxEnvelope < 0 || c.BatchMax < 0 || c.BatchBytes < 0 {
		return errors.New("forward: negative LinksConfig limit")
	}
	if c.BackoffMax != 0 && c.BackoffMax < c.BackoffMin {
		return errors.New("forward: BackoffMax below BackoffMin")
	}
	return nil
}

func (c *LinksConfig) defaults() {
	c.Log = orDiscard(c.Log)
	c.QueueLimit = or(c.QueueLimit, 10000)
	c.QueueBytes = or(c.QueueBytes, 64<<20)
	c.MaxEnvelope = or(c.MaxEnvelope, 1<<20)
	c.BatchMax = or(c.BatchMax, 256)
	c.BatchBytes = or(c.BatchBytes, 256<<10)
	c.DialTimeout = or(c.DialTimeout, 5*time.Second)
	c.WriteTimeout = or(c.WriteTimeout, 10*time.Second)
	c.PingInterval = or(c.PingInterval, 5*time.Second)
	c.ReadTimeout = or(c.ReadTimeout, 3*c.PingInterval)
	c.BackoffMin = or(c.BackoffMin, 100*time.Millisecond)
	c.BackoffMax = or(c.BackoffMax, max(10*time.Second, c.BackoffMin))
	if c.Now == nil {
		c.Now = time.Now
	}
}

func or[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
