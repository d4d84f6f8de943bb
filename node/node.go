// Package node wires one courier node together: it builds the stores, the
// hub (node/hub), the peers (node/peers), the command channel
// (node/command), the engine (node/engine) and the API (node/api) from a
// Config, serves them on one listener, and stops them in order. It holds no
// behaviour of its own beyond that wiring and the two adapters the engine
// and the API call: handler.go admits a handshake (token, device, names)
// and routes a client's events, service.go hands each API call to its
// package (dyes go straight to the registry). node/README.md follows a push
// and a command through the packages.
package node

import (
	"cmp"
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

	"courier/node/admin"
	"courier/node/api"
	"courier/node/auth"
	"courier/node/authhook"
	"courier/node/command"
	"courier/node/engine"
	"courier/node/hub"
	"courier/node/lograte"
	"courier/node/peers"
	"courier/node/polls"
	"courier/node/push"
	"courier/node/session"
	"courier/router/redisconn"
	"courier/router/trpc"
)

// Node is one running node. Make it with New, serve it with Serve, stop it
// with Shutdown; Run does all three for a main.
type Node struct {
	cfg    Config
	log    *slog.Logger
	tokens *auth.Verifier // client tokens (tokens.go); nil: none, the auth hook alone
	hook   *authhook.Hook // --auth-hook; nil: none
	dyes   dyeSnapshot    // the dyed users, for the traces of their pushes (dyes.go)
	// hasCommandRoutes: connections keep their forwarded headers only then
	hasCommandRoutes bool
	stores           stores
	metrics          *metrics
	hub              *hub.Hub
	peers            *peers.Peers
	sessionOpts      *session.Options
	commands         *command.Channel
	engine           *engine.SocketIO
	api              *api.Server
	admin            *admin.Admin // the /admin/ web UI
	polls            *polls.Runner
	server           *http.Server
	closeAtEnd       []func() // what New opened: stores, the backend pool

	// ctx is the node's lifetime: store calls and commands the node makes
	// on its own derive from it, and Shutdown cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	// traces ends the live traces (GET /v1/trace) when Shutdown begins:
	// a stream left open would hold the server's shutdown to its timeout.
	traces    context.Context
	endTraces context.CancelFunc

	// The lifecycle, after nats-server's: mu orders Serve's start-up against
	// Shutdown. Serve starts nothing once draining is set; Shutdown waits
	// for a start-up under way, then stops what it published in started.
	mu       sync.Mutex
	draining atomic.Bool // set under mu; read without it on hot paths
	starting sync.WaitGroup
	started  started
	loops    sync.WaitGroup // goroutines of the node's own (memory trim, debug server)

	connecting  atomic.Int32 // Connected calls under way: their store work
	arrivalTime movingTime   // how long their store work takes, lately

	limits clientLimits // what one client may take (limits.go)
	// mailboxGauge is courier_mailbox_messages on Redis (mailboxgauge.go);
	// nil on the in-memory store.
	mailboxGauge *mailboxGauge
}

// started is what Serve brought up, published under Node.mu.
type started struct {
	polls       bool
	trpc        *trpc.Server
	debug       *http.Server
	metrics     *http.Server
	metricsAddr net.Addr
}

// warnEvery is how often one kind of warning may be logged.
const warnEvery = 5 * time.Second

// errDraining refuses work once Shutdown began.
var errDraining = errors.New("node is shutting down")

// New builds a node from cfg: the in-memory stores, or Redis when
// cfg.Redis is set. It opens no listener; Serve does.
func New(cfg Config, log *slog.Logger) (*Node, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := openStores(cfg)
	if err != nil {
		return nil, err
	}
	return newNode(cfg, log, st)
}

// newNode builds a node on stores already open; it closes them on error.
func newNode(cfg Config, log *slog.Logger, st stores) (*Node, error) {
	// A storm of one warning (a store outage under many connections) logs
	// one line per kind per interval, with a count.
	log = slog.New(lograte.New(log.Handler(), warnEvery, nil))
	n := &Node{cfg: cfg, log: log.With("node", cfg.NodeID), stores: st}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.traces, n.endTraces = context.WithCancel(n.ctx)
	n.closeAtEnd = append(n.closeAtEnd, st.closers...)
	if err := n.build(); err != nil {
		n.cancel()
		for _, c := range n.closeAtEnd {
			c()
		}
		return nil, err
	}
	return n, nil
}

// build makes every component; nothing listens yet.
func (n *Node) build() error {
	cfg := n.cfg
	n.metrics = newMetrics(n.connections, n.stores.mailboxSize())
	if n.stores.redis != nil {
		redisconn.Observe(n.stores.redis, n.metrics)
		redisconn.Observe(n.stores.opsRedis, n.metrics)
		n.mailboxGauge = newMailboxGauge(cmp.Or(cfg.MailboxCountInterval, mailboxCountEvery))
		n.metrics.reg.MustRegister(n.mailboxGauge)
	}
	var err error
	if n.tokens, err = newTokenVerifier(cfg); err != nil {
		return err
	}
	n.peers, err = peers.New(peers.Config{
		Node: cfg.NodeID, APIAddr: cfg.Listen, GossipListen: cfg.GossipListen, Join: cfg.Join,
		PeerListen: cfg.PeerListen, Secret: cfg.ClusterSecret, Store: cfg.Redis,
		Registry: n.stores.registry, Mailbox: n.stores.mailbox, Metrics: n.metrics,
		Log:          n.log, // each part names its own component
		HealInterval: cfg.HealInterval, NudgeInterval: cfg.NudgeInterval,
		GossipTransport: cfg.GossipTransport, GossipTuning: cfg.GossipTuning, PeerDial: cfg.PeerDial,
	})
	if err != nil {
		return err
	}
	n.metrics.reg.MustRegister(newMemberStates(n.peers.MemberStates))
	n.hub, err = hub.New(hub.Config{
		Node: cfg.NodeID, Mailbox: n.stores.mailbox, Registry: n.stores.registry, Arrival: n.stores.arrival, Peers: n.peers,
		Limits:   push.Limits{MaxDataBytes: cfg.MaxDataBytes, DefaultTTL: cfg.DefaultTTL},
		MaxRooms: cfg.MaxRooms, MaxSessionsPerUser: cfg.MaxSessionsPerUser, Metrics: n.metrics, Log: n.log.With("component", "hub"),
		DyeOf: n.dyeOf, Tracer: opsTracer{n},
	})
	if err != nil {
		return err
	}
	n.peers.SetHub(n.hub)
	n.sessionOpts = &session.Options{
		Node: cfg.NodeID, Mailbox: n.stores.mailbox, Metrics: n.metrics,
		Log: n.log.With("component", "session"), AckTimeout: cfg.AckTimeout, AckRetries: cfg.AckRetries,
		QueueLimit: cfg.SendQueue, Window: cfg.AckWindow, Now: time.Now, Context: n.ctx, Tracer: opsTracer{n},
	}
	n.stores.ops.OnSetting(n.takeSetting)
	if n.engine, err = engine.NewSocketIO(engine.Config{
		PingInterval: cfg.PingInterval, PingTimeout: cfg.PingTimeout,
		CORSOrigins: cfg.CORSOrigins, LegacyWebSocket: cfg.LegacyWebSocket,
	}, n, n.log.With("component", "engine")); err != nil {
		return fmt.Errorf("socket.io engine: %w", err)
	}
	n.metrics.reg.MustRegister(newEngineSyscalls(n.engine.Syscalls))
	if n.limits, err = newClientLimits(cfg); err != nil {
		return err
	}
	caller, trpcBackend, err := n.commandRouter()
	if err != nil {
		return err
	}
	if n.hook, err = newAuthHook(cfg, trpcBackend, n.log.With("component", "auth-hook")); err != nil {
		return err
	}
	n.admin = admin.New(admin.Config{Keys: cfg.AdminKeys, Log: n.log.With("component", "admin")})
	if !n.admin.Enabled() {
		n.log.Info("admin UI is off: set --admin-key")
	}
	n.commands = &command.Channel{Caller: tracedCaller{next: caller, ops: n.stores.ops}, Log: n.log.With("component", "commands"), Context: n.ctx, MaxDataBytes: cfg.MaxDataBytes}
	if n.api, err = api.New(api.Config{Keys: cfg.APIKeys, MaxDataBytes: cfg.MaxDataBytes, RatePerKey: cfg.APIRate,
		VerifyToken: n.verifyToken, AuthenticateRequest: n.authenticateRequest, Origin: n.requestOrigin,
		AdminAuth: n.admin.Authenticated}, n, n.log.With("component", "api")); err != nil {
		return err
	}
	polls.Routes(n.api, n.stores.polls, n.log.With("component", "polls"))
	if n.polls, err = polls.NewRunner(polls.RunnerConfig{
		Node: cfg.NodeID, Store: n.stores.polls, Caller: caller, Push: n.hub.Push,
		Log: n.log.With("component", "polls"), Metrics: polls.NewPrometheus(n.metrics.reg),
	}); err != nil {
		return err
	}
	n.server = &http.Server{Handler: n.Handler(), ReadHeaderTimeout: min(10*time.Second, cfg.HTTPReadTimeout),
		ReadTimeout: cfg.HTTPReadTimeout, WriteTimeout: cfg.HTTPWriteTimeout, IdleTimeout: cfg.HTTPIdleTimeout}
	return nil
}

// commandRouter routes commands from the YAML table and --route flags to
// backends (the tRPC pool is returned too: a tRPC auth hook uses it).
func (n *Node) commandRouter() (*command.Router, *command.TRPC, error) {
	routes, err := command.Routes(n.cfg.Commands, n.cfg.Routes)
	n.hasCommandRoutes = len(routes) > 0
	if err != nil {
		return nil, nil, err
	}
	backend, err := command.NewTRPC("trpc.courier.node."+n.cfg.NodeID, n.cfg.CallTimeout, n.log.With("component", "trpc-pool"))
	if err != nil {
		return nil, nil, err
	}
	n.closeAtEnd = append(n.closeAtEnd, func() { _ = backend.Close() })
	r, err := command.NewRouter(command.RouterConfig{
		Routes: routes, DefaultTimeout: n.cfg.CallTimeout, Backend: backend, Dye: n.stores.registry.Dye,
		Observe: n.metrics.Commanded, Log: n.log.With("component", "commands"),
	})
	return r, backend, err
}

func (n *Node) connections() float64 { return float64(n.hub.Count()) }

// Handler serves everything of the --listen address: socket.io, the API,
// the admin UI, metrics and health.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", n.shedHandshakes(n.engine))
	mux.Handle("/v1/", n.api.Handler())
	mux.Handle("/admin/", n.admin.Handler())
	if n.cfg.MetricsListen == "" {
		mux.Handle("GET /metrics", n.metricsHandler())
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if n.draining.Load() {
			http.Error(w, "draining\n", http.StatusServiceUnavailable)
			return
		}
		if !n.peers.StoreReachable() {
			http.Error(w, "store unreachable\n", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

// metricsHandler serves the Prometheus metrics, on the public listener or
// on --metrics-listen alone.
func (n *Node) metricsHandler() http.Handler {
	return promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{})
}

// MetricsAddr is where --metrics-listen serves ("" without it, or before
// Serve started it).
func (n *Node) MetricsAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started.metricsAddr == nil {
		return ""
	}
	return n.started.metricsAddr.String()
}

// TRPCAddr is where the tRPC push service listens ("" without --trpc-listen,
// or before Serve started it).
func (n *Node) TRPCAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started.trpc == nil {
		return ""
	}
	return n.started.trpc.Addr().String()
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
		n.stopAll(context.Background())
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
