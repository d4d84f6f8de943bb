package node

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"courier/node/command"
	"courier/node/engine"
	"courier/node/errcode"
	"courier/node/limit"
)

// clientLimits are the node's bounds on one client (SPEC, Limits). A new
// session is checked before its upgrade (shedHandshakes: answered 429 or
// 503 with Retry-After, the cheap way) and again at its CONNECT
// (Authenticate: connect_error {code}), where a polling client that
// skipped the first check is caught.
type clientLimits struct {
	proxies limit.Proxies
	ipRates *limit.Rates
	uaRates *limit.Rates
	ipConns *limit.Counts
	// A user's POST /v1/call: the rate and in-flight bound a connection has
	// for its cmd events, per user on this node (HTTP calls have no
	// connection to hang them on).
	callRates     *limit.Rates
	callsInFlight *limit.Counts
	cmdRate       float64
	joinRate      float64
	maxConns      int
}

func newClientLimits(cfg Config) (clientLimits, error) {
	proxies, err := limit.ParseProxies(cfg.TrustedProxies)
	if err != nil {
		return clientLimits{}, err
	}
	return clientLimits{
		proxies: proxies,
		ipRates: limit.NewRates(cfg.HandshakeRatePerIP, nil), uaRates: limit.NewRates(cfg.HandshakeRatePerUA, nil),
		ipConns:   limit.NewCounts(cfg.MaxConnectionsPerIP),
		callRates: limit.NewRates(cfg.CmdRate, nil), callsInFlight: limit.NewCounts(command.MaxInFlight),
		cmdRate: cfg.CmdRate, joinRate: cfg.JoinRate, maxConns: cfg.MaxConnections,
	}, nil
}

// refusal is a limit hit: its metric reason and its HTTP / connect_error code.
type refusal struct {
	reason string
	code   int // 429 rate, 503 capacity
}

// admit checks a new session from ip with user agent ua; ok when none of
// the limits is hit. Rates spend a token.
func (n *Node) admit(ip, ua string) (refusal, bool) {
	if r, ok := n.roomFor(ip); !ok {
		return r, false
	}
	l := &n.limits
	switch {
	case !l.ipRates.Allow(ip):
		return refusal{"ip_rate", http.StatusTooManyRequests}, false
	case !l.uaRates.Allow(ua):
		return refusal{"ua_rate", http.StatusTooManyRequests}, false
	}
	return refusal{}, true
}

// roomFor checks the node's and ip's connection bounds, spending nothing.
func (n *Node) roomFor(ip string) (refusal, bool) {
	switch {
	case n.hub.Count()+int(n.connecting.Load()) >= n.limits.maxConns:
		return refusal{"node_full", http.StatusServiceUnavailable}, false
	case n.limits.ipConns.Full(ip):
		return refusal{"ip_connections", http.StatusServiceUnavailable}, false
	}
	return refusal{}, true
}

// refuseHTTP answers a refused handshake before its upgrade.
func (n *Node) refuseHTTP(w http.ResponseWriter, r refusal, what string) {
	n.metrics.refused.WithLabelValues(r.reason).Inc()
	// 1-3 s: clients refused together do not come back together
	w.Header().Set("Retry-After", strconv.Itoa(1+rand.IntN(3)))
	http.Error(w, what+" ("+r.reason+"); retry later\n", r.code)
}

// refuseConnect answers a refused socket.io CONNECT.
func (n *Node) refuseConnect(r refusal, what string) error {
	n.metrics.refused.WithLabelValues(r.reason).Inc()
	return &engine.ConnectError{Message: what + " (" + r.reason + "); retry later", Data: map[string]any{"code": r.code}}
}

// overRate answers a client event its connection's rate did not allow
// (allowed false): counted as reason, acked rate_limited. It reports
// whether it answered.
func (n *Node) overRate(allowed bool, reason, what string, reply func(any)) bool {
	if allowed {
		return false
	}
	n.metrics.refused.WithLabelValues(reason).Inc()
	reply(errcode.AckFail(errcode.New(errcode.RateLimited, "too many "+what+" on this connection; slow down")))
	return true
}

// clientIP is the handshake's client address (limit.Proxies.ClientIP).
func (n *Node) clientIP(hs *engine.Handshake) string {
	return n.limits.proxies.ClientIPOf(hs.RemoteAddr, hs.Header)
}

// connLimits are one connection's command and join rates. Safe for
// concurrent use.
type connLimits struct {
	mu   sync.Mutex
	cmd  limit.Bucket
	join limit.Bucket
}

func newConnLimits(l *clientLimits, now time.Time) *connLimits {
	return &connLimits{cmd: limit.NewBucket(l.cmdRate, 2*l.cmdRate, now), join: limit.NewBucket(l.joinRate, 2*l.joinRate, now)}
}

func (c *connLimits) allowCmd() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmd.Allow(time.Now())
}

func (c *connLimits) allowJoin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.join.Allow(time.Now())
}
