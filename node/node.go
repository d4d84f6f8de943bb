// Package node is one courier node: it holds client connections, serves the
// push API, and delivers pushes through the mailbox and the registry.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"courier/node/api"
	"courier/node/auth"
	"courier/node/command"
	"courier/node/engine"
	"courier/node/polls"
	"courier/node/session"
	"courier/router/cluster"
	"courier/router/mailbox"
	"courier/router/registry"
	"courier/router/trpc"
)

// Node is one running node. Make it with New, serve it with Serve, stop it
// with Shutdown; Run does all three for a main.
type Node struct {
	cfg         Config
	log         *slog.Logger
	jwtSecret   []byte
	mailbox     mailbox.Mailbox
	registry    registry.Registry
	hub         *hub
	metrics     *metrics
	sessionOpts *session.Options
	engine      *engine.SocketIO
	api         *api.Server
	server      *http.Server
	draining    atomic.Bool
	closers     []func()
	peers       *peers
	stopHealing func()
	healShort   bool // the last healing check found the registry short; healing goroutine only
	commands    command.Caller
	polls       *polls.Runner
	trpcServer  atomic.Pointer[trpc.Server] // set by Serve

	addrMu   sync.Mutex
	listener net.Addr
}

// New builds a node from cfg on the in-memory stores.
func New(cfg Config, log *slog.Logger) (*Node, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := openStores(cfg)
	if err != nil {
		return nil, err
	}
	mb, reg := st.mailbox, st.registry
	n := &Node{
		cfg:       cfg,
		log:       log.With("node", cfg.NodeID),
		jwtSecret: []byte(cfg.JWTSecret),
		mailbox:   mb,
		registry:  reg,
		hub:       newHub(),
		closers:   st.closers,
		peers:     &peers{self: cfg.NodeID, alive: map[string]cluster.Member{}},
	}
	var size func() float64
	if sized, ok := mb.(interface{ Size() int }); ok {
		size = func() float64 { return float64(sized.Size()) }
	}
	n.metrics = newMetrics(func() float64 { return float64(n.hub.count()) }, size)
	n.sessionOpts = &session.Options{
		Node:       cfg.NodeID,
		Mailbox:    mb,
		Metrics:    n.metrics,
		Log:        n.log.With("component", "session"),
		AckTimeout: cfg.AckTimeout,
		AckRetries: cfg.AckRetries,
		QueueLimit: cfg.SendQueue,
		Window:     cfg.AckWindow,
		Now:        time.Now,
	}
	eng, err := engine.NewSocketIO(engine.Config{
		PingInterval:    cfg.PingInterval,
		PingTimeout:     cfg.PingTimeout,
		CORSOrigins:     cfg.CORSOrigins,
		LegacyWebSocket: cfg.LegacyWebSocket,
	}, n, n.log.With("component", "engine"))
	if err != nil {
		return nil, fmt.Errorf("socket.io engine: %w", err)
	}
	n.engine = eng
	backend, closeBackend, err := newBackend(cfg, n.log)
	if err != nil {
		return nil, err
	}
	n.closers = append(n.closers, closeBackend)
	if n.commands, err = newRouter(cfg, backend, reg.Dye, n); err != nil {
		return nil, err
	}
	n.api, err = api.New(api.Config{Keys: cfg.APIKeys, MaxDataBytes: cfg.MaxDataBytes, RatePerKey: cfg.APIRate,
		VerifyToken: func(token string) (string, error) {
			c, err := auth.Verify(n.jwtSecret, token, time.Now())
			return c.Sub, err
		}}, n, n.log.With("component", "api"))
	if err != nil {
		return nil, err
	}
	polls.Routes(n.api, st.polls, n.log.With("component", "polls"))
	n.polls, err = polls.NewRunner(polls.RunnerConfig{
		Node: cfg.NodeID, Store: st.polls, Caller: n.commands, Push: n.Push,
		Log: n.log.With("component", "polls"), Metrics: polls.NewPrometheus(n.metrics.reg),
	})
	if err != nil {
		return nil, err
	}
	n.server = &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return n, nil
}

// Handler serves everything of SPEC.md's --listen address.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", n.engine)
	mux.Handle("/v1/", n.api.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if n.draining.Load() {
			http.Error(w, "draining\n", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

// Serve answers on ln until Shutdown.
func (n *Node) Serve(ln net.Listener) error {
	n.addrMu.Lock()
	n.listener = ln.Addr()
	n.addrMu.Unlock()
	if err := n.startPeers(ln.Addr().String()); err != nil {
		return err
	}
	if err := n.startTRPC(); err != nil {
		n.stopPeers()
		return err
	}
	if err := n.startDebug(); err != nil {
		n.stopPeers()
		return err
	}
	n.polls.Start()
	stopTrim := make(chan struct{})
	go n.trimLoop(stopTrim)
	defer close(stopTrim)
	n.log.Info("courier node listening", "addr", ln.Addr().String(), "socketio", "/socket.io/", "api", "/v1/")
	if err := n.server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (n *Node) addr() string {
	n.addrMu.Lock()
	defer n.addrMu.Unlock()
	if n.listener == nil {
		return n.cfg.Listen
	}
	return n.listener.String()
}

// Shutdown drains the node: it stops taking connections, tells every client
// to reconnect (elsewhere), finishes API calls in flight, and stops, within
// ctx's deadline.
func (n *Node) Shutdown(ctx context.Context) error {
	if n.draining.Swap(true) {
		return nil
	}
	// Polling tasks first: the others take them over at their next scan
	// while this node drains, and the release reaches the store in time.
	n.polls.Stop(ctx)
	n.log.Info("draining", "sessions", n.hub.count())
	for _, s := range n.hub.all() {
		s.Close(session.ReasonShutdown)
	}
	n.awaitSessionsGone(ctx, drainGrace)
	n.sessionOpts.FlushAcks(ctx)
	err := n.server.Shutdown(ctx)
	n.engine.Close()
	if srv := n.trpcServer.Load(); srv != nil {
		_ = srv.Close()
	}
	n.stopPeers()
	for _, c := range n.closers {
		c()
	}
	n.log.Info("stopped", "err", err)
	return err
}

// drainGrace bounds how long Shutdown waits for transports to flush their
// last word (courier:disconnect) before the engine closes what is left.
const drainGrace = 2 * time.Second

func (n *Node) awaitSessionsGone(ctx context.Context, grace time.Duration) {
	deadline := time.Now().Add(grace)
	for n.hub.count() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

func (n *Node) storeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// Run serves a node on cfg.Listen until ctx ends, then drains it within
// cfg.ShutdownTimeout.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	n, err := New(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- n.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	if err := n.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return <-served
}
