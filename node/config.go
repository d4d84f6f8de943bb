package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"

	"courier/node/command"
	"courier/node/limit"
	"courier/node/push"
	"courier/router/cluster"
	"courier/router/registry"
)

// Config is everything a node needs, filled from flags, env and YAML by the
// main (see node/cmd/courier). The zero value of each field means its default.
type Config struct {
	Listen        string   `yaml:"listen"`         // default 127.0.0.1:8080
	NodeID        string   `yaml:"node-id"`        // required; the main defaults it to host name + listen port
	Redis         string   `yaml:"redis"`          // empty: in-memory
	GossipListen  string   `yaml:"gossip-listen"`  // empty: no cluster
	Join          []string `yaml:"join"`           // gossip seeds
	PeerListen    string   `yaml:"peer-listen"`    // node-to-node links
	ClusterSecret string   `yaml:"cluster-secret"` // gossip encryption, peer auth
	APIKeys       []string `yaml:"api-key"`        // push API keys
	AdminKeys     []string `yaml:"admin-key"`      // /admin/ web UI logins, and Bearer keys of the operator on the API; none: /admin/ is off
	JWTSecret     string   `yaml:"jwt-secret"`     // HS256 client token secrets, comma-separated: any verifies, the first signs
	JWTPublicKey  string   `yaml:"jwt-public-key"` // PEM file of RS256/ES256 public keys
	JWKSURL       string   `yaml:"jwks-url"`       // JWKS of RS256/ES256 keys, selected by kid
	JWTIssuer     string   `yaml:"jwt-issuer"`     // iss a token must carry; empty = not checked
	JWTAudience   string   `yaml:"jwt-audience"`   // aud a token must include; empty = not checked
	// AuthHook authenticates clients without a valid courier token with the
	// business's endpoint: http(s)://... or trpc://host:port/pkg.Service/Method.
	AuthHook        string        `yaml:"auth-hook"`
	AuthHookHeaders []string      `yaml:"auth-hook-headers"` // default Cookie, Authorization, User-Agent, Origin
	AuthHookTimeout time.Duration `yaml:"auth-hook-timeout"` // default 2s
	TRPCListen      string        `yaml:"trpc-listen"`       // tRPC push service
	DebugListen     string        `yaml:"debug-listen"`      // net/http/pprof; empty = off
	MetricsListen   string        `yaml:"metrics-listen"`    // /metrics apart from the public listener; empty = on it
	ShutdownTimeout time.Duration `yaml:"shutdown-timeout"`  // default 30s
	// DrainDelay is how long a draining node answers /readyz 503, so that a
	// load balancer stops sending it clients, before it tells its clients
	// to reconnect; DrainSpread spreads those goodbyes so that the other
	// nodes take the reconnects over time, not at once. Zero here is none;
	// the main defaults them to 5s and 10s. Both shrink to fit within
	// ShutdownTimeout.
	DrainDelay   time.Duration `yaml:"drain-delay"`
	DrainSpread  time.Duration `yaml:"drain-spread"`
	DefaultTTL   time.Duration `yaml:"default-ttl"`   // default 300s
	MailboxLimit int           `yaml:"mailbox-limit"` // default 1000
	Routes       []string      `yaml:"route"`         // CALLEE_PATTERN=ADDR[,ADDR...]
	// Commands is the YAML `commands:` table: routes with timeouts and
	// per-environment addresses. --route flags add to it.
	Commands    []command.Route `yaml:"commands"`
	CallTimeout time.Duration   `yaml:"call-timeout"` // default timeout of a command, 5s

	CORSOrigins []string `yaml:"cors-origins"` // allowed origins for long-polling; "*" any
	// JSONP serves long-polling with the j= parameter (a script tag's GET
	// and a form's POST, which no CORS check guards); off by default.
	JSONP        bool    `yaml:"jsonp"`
	MaxDataBytes int     `yaml:"max-data-bytes"` // push data limit, default 64 KiB
	APIRate      float64 `yaml:"api-rate"`       // push API requests/s per key, 0 = no limit
	// What one client may take (SPEC, Limits). Rates are per second with a
	// burst of twice that; 0 in the per-IP and per-agent bounds is none.
	MaxConnections      int      `yaml:"max-connections"`        // held by this node; default 90% of the open-file limit
	MaxConnectionsPerIP int      `yaml:"max-connections-per-ip"` // from one client IP
	HandshakeRatePerIP  float64  `yaml:"handshake-rate-per-ip"`  // new sessions per second from one client IP
	HandshakeRatePerUA  float64  `yaml:"handshake-rate-per-ua"`  // new sessions per second per User-Agent
	MaxSessionsPerUser  int      `yaml:"max-sessions-per-user"`  // cluster-wide; the oldest is closed as replaced; default 32
	MaxDevicesPerUser   int      `yaml:"max-devices-per-user"`   // devices of one user with remembered rooms; the least recently joined is forgotten; default 64
	CmdRate             float64  `yaml:"cmd-rate"`               // commands per second per connection, default 50
	JoinRate            float64  `yaml:"join-rate"`              // joins and leaves per second per connection, default 20
	TrustedProxies      []string `yaml:"trusted-proxies"`        // CIDRs whose X-Forwarded-For is believed
	ForwardHeaders      []string `yaml:"forward-headers"`        // request headers passed to command backends (trans_info courier-h-<name>); default User-Agent, Referer
	// TraceKeep is how long the events of an API call or command are kept
	// by trace id (GET /v1/trace?trace=ID); default 10m.
	TraceKeep time.Duration `yaml:"trace-keep"`
	// LogLevel is the level the node's logger filters by, which PUT
	// /v1/admin/log-level changes at run time; nil: the node's level cannot
	// be changed (the logger was built without it).
	LogLevel *slog.LevelVar `yaml:"-"`
	// MailboxCountInterval is how often one node counts the Redis mailbox
	// for courier_mailbox_messages (a scan); default 1m. A test hook.
	MailboxCountInterval time.Duration `yaml:"-"`
	AckTimeout           time.Duration `yaml:"ack-timeout"` // resend an unacked message after, default 10s
	AckRetries           int           `yaml:"ack-retries"` // resends while connected, default 3
	SendQueue            int           `yaml:"send-queue"`  // per-connection queue bound, default 1024
	AckWindow            int           `yaml:"ack-window"`  // unacked messages in flight per connection, default 128
	MaxRooms             int           `yaml:"max-rooms"`   // rooms one connection may be in, default 256
	// MaxConnecting bounds the handshakes whose store work (registration,
	// rooms, first reads) is under way at once, default 8192: past it new
	// clients are refused with 503 at once rather than queued. Below it
	// they are refused only while that work takes over a second on
	// average (the store is slow), so a burst the store keeps up with is
	// taken: 12,000 clients of a killed node came back in 3.2 s when
	// taken, in 10.6 s when a bound of 1024 refused 2,253 of them. Each
	// waiting handshake costs a goroutine.
	MaxConnecting int `yaml:"max-connecting"`
	// The HTTP server's bounds (SPEC, Limits): reading a whole request,
	// headers and body; writing its answer (a long-polling GET waits up to
	// PingInterval, so this must be longer); an idle keep-alive connection.
	// An upgraded WebSocket leaves them for the engine's own ping and write
	// timeouts.
	HTTPReadTimeout  time.Duration `yaml:"http-read-timeout"`  // default 10s
	HTTPWriteTimeout time.Duration `yaml:"http-write-timeout"` // default 30s
	HTTPIdleTimeout  time.Duration `yaml:"http-idle-timeout"`  // default 60s
	PingInterval     time.Duration `yaml:"ping-interval"`      // default 25s
	PingTimeout      time.Duration `yaml:"ping-timeout"`       // default 20s
	// LegacyWebSocket serves direct WebSocket clients on zishang520 instead
	// of the lean engine (flag --lean-websocket=false): the fallback.
	LegacyWebSocket bool `yaml:"-"`

	// Test hooks, never from flags: a gossip transport that can be cut (to
	// partition a node), fast memberlist timers, and the dialer of peer links.
	GossipTransport memberlist.NodeAwareTransport                                     `yaml:"-"`
	GossipTuning    cluster.Tuning                                                    `yaml:"-"`
	PeerDial        func(ctx context.Context, network, addr string) (net.Conn, error) `yaml:"-"`
	// HealInterval is how often the node checks that the registry knows its
	// sessions (default 5s).
	HealInterval time.Duration `yaml:"-"`
	// NudgeInterval is how often a clustered node reads the streams other
	// nodes could not hand its sessions live (default 250ms).
	NudgeInterval time.Duration `yaml:"-"`

	// DevSecrets is set by the main when it generated the API key and JWT
	// secret itself; the node refuses that unless every listener is loopback.
	DevSecrets bool `yaml:"-"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.ForwardHeaders == nil {
		c.ForwardHeaders = []string{"User-Agent", "Referer"}
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.DefaultTTL == 0 {
		c.DefaultTTL = push.Limits{}.WithDefaults().DefaultTTL
	}
	if c.MailboxLimit == 0 {
		c.MailboxLimit = 1000
	}
	if c.MaxDataBytes == 0 {
		c.MaxDataBytes = push.DefaultMaxDataBytes
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 10 * time.Second
	}
	if c.AckRetries == 0 {
		c.AckRetries = 3
	}
	if c.SendQueue == 0 {
		c.SendQueue = 1024
	}
	if c.AckWindow == 0 {
		c.AckWindow = 128
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 5 * time.Second
	}
	if c.HealInterval == 0 {
		c.HealInterval = 5 * time.Second
	}
	if c.NudgeInterval == 0 {
		c.NudgeInterval = 250 * time.Millisecond
	}
	if c.MaxRooms == 0 {
		c.MaxRooms = 256
	}
	if c.MaxConnecting == 0 {
		c.MaxConnecting = 8192
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = defaultMaxConnections()
	}
	if c.MaxSessionsPerUser == 0 {
		c.MaxSessionsPerUser = 32
	}
	if c.MaxDevicesPerUser == 0 {
		c.MaxDevicesPerUser = registry.DefaultMaxDevicesPerUser
	}
	if c.CmdRate == 0 {
		c.CmdRate = 50
	}
	if c.JoinRate == 0 {
		c.JoinRate = 20
	}
	if c.HTTPReadTimeout == 0 {
		c.HTTPReadTimeout = 10 * time.Second
	}
	if c.HTTPWriteTimeout == 0 {
		c.HTTPWriteTimeout = 30 * time.Second
	}
	if c.HTTPIdleTimeout == 0 {
		c.HTTPIdleTimeout = 60 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = 20 * time.Second
	}
	return c
}

// Validate reports the first thing that keeps c from running.
func (c Config) Validate() error {
	if len(c.APIKeys) == 0 || (c.JWTSecret == "" && c.JWTPublicKey == "" && c.JWKSURL == "" && c.AuthHook == "") {
		return errors.New("--api-key and one of --jwt-secret, --jwt-public-key, --jwks-url, --auth-hook are required")
	}
	for _, s := range c.JWTSecrets() {
		if s == "" {
			return errors.New("--jwt-secret has an empty secret in its comma-separated list")
		}
	}
	if c.DevSecrets {
		for _, addr := range []string{c.Listen, c.GossipListen, c.PeerListen, c.TRPCListen, c.DebugListen} {
			if addr != "" && !IsLoopback(addr) {
				return fmt.Errorf("listening on %s, which is not loopback: set --api-key and --jwt-secret (generated dev secrets are only for loopback)", addr)
			}
		}
	}
	clustered := c.GossipListen != "" || c.GossipTransport != nil
	if c.PeerListen != "" && !clustered {
		return errors.New("--peer-listen needs --gossip-listen: peers find each other's links through gossip, so a node without it would never use its link")
	}
	if clustered && c.ClusterSecret == "" {
		// Without it, any process that reaches the ports joins the
		// cluster and injects envelopes, loopback included.
		return errors.New("--gossip-listen needs --cluster-secret: it encrypts gossip and authenticates peer links")
	}
	if err := c.checkSecretLengths(); err != nil {
		return err
	}
	if (c.GossipListen != "" || c.GossipTransport != nil) && c.Redis == "" {
		return errors.New("--gossip-listen needs --redis: nodes on the in-memory backend cannot share sessions or messages, so they refuse to form a cluster")
	}
	if c.MailboxLimit < 1 || c.AckRetries < 0 || c.SendQueue < 1 || c.AckWindow < 1 || c.MaxRooms < 1 || c.MaxConnecting < 1 {
		return errors.New("--mailbox-limit, --send-queue, --ack-window, --max-rooms and --max-connecting must be positive, --ack-retries not negative")
	}
	if c.DebugListen != "" && !IsLoopback(c.DebugListen) {
		// Profiles show tokens and payloads in flight: keep them off the network.
		return fmt.Errorf("--debug-listen %s is not loopback: profiles expose memory contents, serve them on loopback only", c.DebugListen)
	}
	if c.DefaultTTL < 0 {
		return errors.New("--default-ttl must not be negative")
	}
	if c.DrainDelay < 0 || c.DrainSpread < 0 {
		return errors.New("--drain-delay and --drain-spread must not be negative")
	}
	if c.MaxConnections < 0 || c.MaxConnectionsPerIP < 0 || c.MaxSessionsPerUser < 0 || c.MaxDevicesPerUser < 0 || c.HandshakeRatePerIP < 0 || c.HandshakeRatePerUA < 0 || c.CmdRate < 0 || c.JoinRate < 0 {
		return errors.New("--max-connections, --max-connections-per-ip, --handshake-rate-per-ip, --handshake-rate-per-ua, --cmd-rate and --join-rate must not be negative")
	}
	if _, err := limit.ParseProxies(c.TrustedProxies); err != nil {
		return err
	}
	if c.HTTPReadTimeout < 0 || c.HTTPIdleTimeout < 0 {
		return errors.New("--http-read-timeout and --http-idle-timeout must not be negative")
	}
	// A long-polling GET is answered within a ping interval, and an HTTP
	// command within its timeout: the write bound must leave them room.
	longestCall := c.CallTimeout
	for _, r := range c.Commands {
		longestCall = max(longestCall, r.Timeout)
	}
	if need := max(c.PingInterval, longestCall) + time.Second; c.HTTPWriteTimeout < need {
		return fmt.Errorf("--http-write-timeout %v is shorter than a long-polling wait or a command call may take (--ping-interval %v, the longest call timeout %v): make it at least %v",
			c.HTTPWriteTimeout, c.PingInterval, longestCall, need)
	}
	return nil
}

// MinSecretLen is the shortest API key, admin key, JWT secret or cluster secret a node
// accepts while any of its listeners is off loopback (256 bits, as HS256's
// key should be).
const MinSecretLen = 32

// checkSecretLengths refuses short secrets unless every listener is on
// loopback, where only this machine can guess at them.
func (c Config) checkSecretLengths() error {
	offLoopback := ""
	for _, addr := range []string{c.Listen, c.GossipListen, c.PeerListen, c.TRPCListen} {
		if addr != "" && !IsLoopback(addr) {
			offLoopback = addr
			break
		}
	}
	if offLoopback == "" {
		return nil
	}
	short := func(name, secret string) error {
		return fmt.Errorf("%s is %d bytes; listening on %s, off loopback, every secret must have at least %d (e.g. openssl rand -hex 32)",
			name, len(secret), offLoopback, MinSecretLen)
	}
	for i, k := range c.APIKeys {
		if len(k) < MinSecretLen {
			return short(fmt.Sprintf("--api-key number %d", i+1), k)
		}
	}
	for i, k := range c.AdminKeys {
		if len(k) < MinSecretLen {
			return short(fmt.Sprintf("--admin-key number %d", i+1), k)
		}
	}
	for i, secret := range c.JWTSecrets() {
		if len(secret) < MinSecretLen {
			return short(fmt.Sprintf("--jwt-secret number %d", i+1), secret)
		}
	}
	if c.ClusterSecret != "" && len(c.ClusterSecret) < MinSecretLen {
		return short("--cluster-secret", c.ClusterSecret)
	}
	return nil
}

// JWTSecrets are the HS256 secrets of JWTSecret, in order: the first signs.
func (c Config) JWTSecrets() []string {
	if c.JWTSecret == "" {
		return nil
	}
	return strings.Split(c.JWTSecret, ",")
}

// IsLoopback reports whether a listen address binds only loopback.
// An empty host (":8080") binds every interface, so it is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
