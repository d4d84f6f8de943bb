package main

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"courier/node"
	"courier/node/authhook"
	"courier/router/opsbus"
)

// settings is what the main resolves: the node's Config plus logging, which
// the node never sees (it gets a ready *slog.Logger).
type settings struct {
	Config    node.Config
	LogLevel  slog.Level
	LogFormat string // "text" or "json"
	// GCPercent is the Go collector's target (GOGC), a process setting the
	// node never sees; 0 = the default.
	GCPercent int
}

// defaultGCPercent is lower than Go's 100: a push node's heap is mostly
// long-lived per-connection state, and a tighter target packs it closer
// (measured: about 0.3 KiB less per idle connection at 15,000), at a little
// more GC work while connections churn.
const defaultGCPercent = 50

// The binary drains by default (the library's zero drains at once, which
// suits tests): a load balancer gets defaultDrainDelay to stop sending new
// clients, and the node's clients reconnect over defaultDrainSpread.
const (
	defaultDrainDelay  = 5 * time.Second
	defaultDrainSpread = 10 * time.Second
)

// option is one setting with one name used three ways: --name, env
// COURIER_NAME, and the YAML key name.
type option struct {
	name  string
	sep   string // list separator for env, file and each flag value; "" = single value
	def   string // shown by -h
	usage string // a `word` in backquotes names the value in -h
	set   func(s *settings, vals []string) error
}

// split turns one raw value into items: lists split on sep, trimmed, no empties.
func (o option) split(v string) []string {
	if o.sep == "" {
		return []string{v}
	}
	var out []string
	for _, item := range strings.Split(v, o.sep) {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// nodeOptions lists every node setting; defaults come from node.Config so -h
// cannot drift from what the node does.
func nodeOptions() []option {
	d := node.Config{}.WithDefaults()
	cfg := func(s *settings) *node.Config { return &s.Config }
	return []option{
		text("listen", d.Listen, "HTTP `address`: socket.io at /socket.io/, API at /v1/, /metrics, /healthz, /readyz, /admin/", func(s *settings) *string { return &cfg(s).Listen }),
		text("node-id", "host name-listen port", "unique `name` of this node in the cluster", func(s *settings) *string { return &cfg(s).NodeID }),
		text("redis", "in-memory, single node", "registry and mailbox `url`: redis://host:port/db, rediss://..., or redis-cluster://h1:p1,h2:p2", func(s *settings) *string { return &cfg(s).Redis }),
		text("gossip-listen", "no cluster", "memberlist bind `address`, e.g. 127.0.0.1:7946", func(s *settings) *string { return &cfg(s).GossipListen }),
		list("join", ",", "", "comma-separated gossip `seeds` host:port", func(s *settings) *[]string { return &cfg(s).Join }),
		text("peer-listen", "", "`address` for node-to-node delivery links", func(s *settings) *string { return &cfg(s).PeerListen }),
		text("cluster-secret", "", "shared `secret`: encrypts gossip, authenticates peer links (required with --gossip-listen; 32 bytes or more off loopback)", func(s *settings) *string { return &cfg(s).ClusterSecret }),
		list("api-key", ",", "generated, loopback only", "comma-separated push API `keys` (Authorization: Bearer KEY)", func(s *settings) *[]string { return &cfg(s).APIKeys }),
		list("admin-key", ",", "none: /admin/ is off", "`key(s)` for the /admin/ web UI; none: /admin/ is off", func(s *settings) *[]string { return &cfg(s).AdminKeys }),
		text("jwt-secret", "generated, loopback only", "HS256 `secrets` for client tokens, comma-separated: any verifies (rotation), the first signs `courier token`", func(s *settings) *string { return &cfg(s).JWTSecret }),
		text("jwt-public-key", "", "PEM `file` of RS256 / ES256 public keys verifying client tokens", func(s *settings) *string { return &cfg(s).JWTPublicKey }),
		text("jwks-url", "", "JWKS `url` of RS256 / ES256 keys verifying client tokens, selected by kid, refetched at most once a minute", func(s *settings) *string { return &cfg(s).JWKSURL }),
		text("jwt-issuer", "", "`iss` a client token must carry; empty = not checked", func(s *settings) *string { return &cfg(s).JWTIssuer }),
		text("jwt-audience", "", "`aud` a client token must include; empty = not checked", func(s *settings) *string { return &cfg(s).JWTAudience }),
		text("auth-hook", "", "`url` authenticating clients without a valid courier token: http(s)://... (JSON POST) or trpc://host:port/pkg.Service/Method", func(s *settings) *string { return &cfg(s).AuthHook }),
		list("auth-hook-headers", ",", strings.Join(authhook.DefaultHeaders, ","), "comma-separated request `headers` told to the auth hook", func(s *settings) *[]string { return &cfg(s).AuthHookHeaders }),
		duration("auth-hook-timeout", 2*time.Second, "`time` the auth hook has to answer; then the client gets 503", func(s *settings) *time.Duration { return &cfg(s).AuthHookTimeout }),
		text("trpc-listen", "", "tRPC push service `address`", func(s *settings) *string { return &cfg(s).TRPCListen }),
		text("metrics-listen", "", "`address` serving /metrics apart from the public listener, which then does not serve it; empty = on the public listener", func(s *settings) *string { return &cfg(s).MetricsListen }),
		text("debug-listen", "", "loopback `address` serving Go profiles at /debug/pprof/; empty = off", func(s *settings) *string { return &cfg(s).DebugListen }),
		duration("shutdown-timeout", d.ShutdownTimeout, "drain `time` on SIGTERM/SIGINT", func(s *settings) *time.Duration { return &cfg(s).ShutdownTimeout }),
		integer("max-connecting", d.MaxConnecting, "handshakes whose store work may be under way at once; past it new clients get 503", func(s *settings) *int { return &cfg(s).MaxConnecting }),
		duration("drain-delay", defaultDrainDelay, "on SIGTERM, answer /readyz 503 this `long` before telling clients to reconnect", func(s *settings) *time.Duration { return &cfg(s).DrainDelay }),
		duration("drain-spread", defaultDrainSpread, "tell clients to reconnect spread over this `long`", func(s *settings) *time.Duration { return &cfg(s).DrainSpread }),
		duration("default-ttl", d.DefaultTTL, "`ttl` of a push that names none", func(s *settings) *time.Duration { return &cfg(s).DefaultTTL }),
		integer("mailbox-limit", d.MailboxLimit, "cached `messages` per user mailbox and per room log", func(s *settings) *int { return &cfg(s).MailboxLimit }),
		duration("trace-keep", opsbus.DefaultKeep, "how long the events of an API call or command are kept by trace id (GET /v1/trace?trace=ID)", func(s *settings) *time.Duration { return &cfg(s).TraceKeep }),
		duration("call-timeout", d.CallTimeout, "default `timeout` of a command call", func(s *settings) *time.Duration { return &cfg(s).CallTimeout }),
		list("route", ";", "", "command route `PATTERN=ADDR[,ADDR...]`, e.g. trpc.app.echo.*=127.0.0.1:8000; repeatable (env: separate routes with ';')", func(s *settings) *[]string { return &cfg(s).Routes }),
		list("cors-origins", ",", "", "comma-separated `origins` allowed for long-polling; * for any", func(s *settings) *[]string { return &cfg(s).CORSOrigins }),
		integer("max-data-bytes", d.MaxDataBytes, "largest push data in `bytes`", func(s *settings) *int { return &cfg(s).MaxDataBytes }),
		number("api-rate", "no limit", "push API `requests` per second per key; 0 = no limit", func(s *settings) *float64 { return &cfg(s).APIRate }),
		integer("max-connections", 0, "client `connections` this node holds at most; 0 = 90% of the open-file limit", func(s *settings) *int { return &cfg(s).MaxConnections }),
		integer("max-connections-per-ip", 0, "client `connections` from one IP; 0 = no limit", func(s *settings) *int { return &cfg(s).MaxConnectionsPerIP }),
		number("handshake-rate-per-ip", "no limit", "new sessions per second from one client IP (`rate`, burst 2x); 0 = no limit", func(s *settings) *float64 { return &cfg(s).HandshakeRatePerIP }),
		number("handshake-rate-per-ua", "no limit", "new sessions per second per User-Agent (`rate`, burst 2x); 0 = no limit", func(s *settings) *float64 { return &cfg(s).HandshakeRatePerUA }),
		integer("max-sessions-per-user", d.MaxSessionsPerUser, "`sessions` of one user, cluster-wide; past it the oldest is closed with reason replaced", func(s *settings) *int { return &cfg(s).MaxSessionsPerUser }),
		integer("max-devices-per-user", d.MaxDevicesPerUser, "`devices` of one user whose rooms are remembered; past it the least recently joined is forgotten", func(s *settings) *int { return &cfg(s).MaxDevicesPerUser }),
		number("cmd-rate", "50", "commands per second per connection (`rate`, burst 2x); over it the ack is rate_limited", func(s *settings) *float64 { return &cfg(s).CmdRate }),
		number("join-rate", "20", "joins and leaves per second per connection (`rate`, burst 2x)", func(s *settings) *float64 { return &cfg(s).JoinRate }),
		list("trusted-proxies", ",", "", "comma-separated `CIDRs` of proxies whose X-Forwarded-For names the client IP", func(s *settings) *[]string { return &cfg(s).TrustedProxies }),
		list("forward-headers", ",", strings.Join(d.ForwardHeaders, ","), "comma-separated request `headers` passed to command backends in trans_info as courier-h-<lower-case name>", func(s *settings) *[]string { return &cfg(s).ForwardHeaders }),
		duration("ack-timeout", d.AckTimeout, "resend an unacknowledged message after this `time`", func(s *settings) *time.Duration { return &cfg(s).AckTimeout }),
		integer("ack-retries", d.AckRetries, "`count` of resends of an unacknowledged message while connected", func(s *settings) *int { return &cfg(s).AckRetries }),
		integer("send-queue", d.SendQueue, "per-connection send queue `bound`", func(s *settings) *int { return &cfg(s).SendQueue }),
		integer("ack-window", d.AckWindow, "unacknowledged `messages` in flight per connection", func(s *settings) *int { return &cfg(s).AckWindow }),
		integer("max-rooms", d.MaxRooms, "rooms one connection may be in at once", func(s *settings) *int { return &cfg(s).MaxRooms }),
		duration("http-read-timeout", d.HTTPReadTimeout, "bound on reading a whole HTTP request, headers and body (`time`)", func(s *settings) *time.Duration { return &cfg(s).HTTPReadTimeout }),
		duration("http-write-timeout", d.HTTPWriteTimeout, "bound on writing an HTTP answer (`time`; longer than --ping-interval and --call-timeout)", func(s *settings) *time.Duration { return &cfg(s).HTTPWriteTimeout }),
		duration("http-idle-timeout", d.HTTPIdleTimeout, "close an idle keep-alive HTTP connection after this `time`", func(s *settings) *time.Duration { return &cfg(s).HTTPIdleTimeout }),
		duration("ping-interval", d.PingInterval, "Engine.IO ping `interval`", func(s *settings) *time.Duration { return &cfg(s).PingInterval }),
		duration("ping-timeout", d.PingTimeout, "Engine.IO ping `timeout`", func(s *settings) *time.Duration { return &cfg(s).PingTimeout }),
		{name: "lean-websocket", def: "true", usage: "serve direct WebSocket clients on the lean engine; false falls back to zishang520 (`bool`, give it as --lean-websocket=false)", set: func(s *settings, v []string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(last(v)))
			if err != nil {
				return fmt.Errorf("%q is not true or false", last(v))
			}
			s.Config.LegacyWebSocket = !b
			return nil
		}},
		{name: "jsonp", def: "false", usage: "serve JSONP long-polling (the j= parameter) for browsers without CORS; off, such requests get 400 (`bool`, give it as --jsonp=true)", set: func(s *settings, v []string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(last(v)))
			if err != nil {
				return fmt.Errorf("%q is not true or false", last(v))
			}
			s.Config.JSONP = b
			return nil
		}},
		{name: "gc-percent", def: strconv.Itoa(defaultGCPercent), usage: "Go garbage collector target (`percent`, as GOGC; the GOGC variable wins when set)", set: func(s *settings, v []string) error {
			n, err := strconv.Atoi(strings.TrimSpace(last(v)))
			if err != nil || n < 10 || n > 1000 {
				return fmt.Errorf("%q is not a percent between 10 and 1000", last(v))
			}
			s.GCPercent = n
			return nil
		}},
		{name: "log-level", def: "info", usage: "log `level`: debug, info, warn or error", set: func(s *settings, v []string) error {
			if err := s.LogLevel.UnmarshalText([]byte(last(v))); err != nil {
				return fmt.Errorf("%q is not a log level (debug, info, warn, error)", last(v))
			}
			return nil
		}},
		{name: "log-format", def: "text", usage: "log `format`: text or json", set: func(s *settings, v []string) error {
			if f := last(v); f != "text" && f != "json" {
				return fmt.Errorf("%q is not a log format (text, json)", f)
			}
			s.LogFormat = last(v)
			return nil
		}},
	}
}

func text(name, def, usage string, field func(*settings) *string) option {
	return option{name: name, def: def, usage: usage, set: func(s *settings, v []string) error {
		*field(s) = last(v)
		return nil
	}}
}

func list(name, sep, def, usage string, field func(*settings) *[]string) option {
	return option{name: name, sep: sep, def: def, usage: usage, set: func(s *settings, v []string) error {
		*field(s) = v
		return nil
	}}
}

func integer(name string, def int, usage string, field func(*settings) *int) option {
	return option{name: name, def: strconv.Itoa(def), usage: usage, set: func(s *settings, v []string) error {
		n, err := strconv.Atoi(strings.TrimSpace(last(v)))
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a whole number >= 0", last(v))
		}
		*field(s) = n
		return nil
	}}
}

func number(name, def, usage string, field func(*settings) *float64) option {
	return option{name: name, def: def, usage: usage, set: func(s *settings, v []string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(last(v)), 64)
		if err != nil || f < 0 || math.IsInf(f, 0) {
			return fmt.Errorf("%q is not a number >= 0", last(v))
		}
		*field(s) = f
		return nil
	}}
}

func duration(name string, def time.Duration, usage string, field func(*settings) *time.Duration) option {
	return option{name: name, def: formatDuration(def), usage: usage, set: func(s *settings, v []string) error {
		d, err := parseDuration(last(v))
		if err != nil {
			return err
		}
		*field(s) = d
		return nil
	}}
}

// parseDuration takes Go syntax ("300s", "1m30s") or a bare number of
// seconds, the unit of ttl everywhere else in courier.
func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration >= 0 (like 300s, 1m30s, or 300 for seconds)", v)
	}
	return d, nil
}

func last(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// formatDuration shows whole seconds as "300s", as SPEC does, not "5m0s".
func formatDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}
