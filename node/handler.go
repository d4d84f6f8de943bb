package node

import (
	"net/http"
	"sync/atomic"
	"time"

	"courier/node/auth"
	"courier/node/command"
	"courier/node/engine"
	"courier/node/errcode"
	"courier/node/push"
	"courier/node/session"
)

// The engine.Handler adapter: the engine authenticates a handshake here,
// then hands over the connection; its sessions belong to the hub, its
// `join`/`leave` events go to the hub, its `cmd` events to the command
// channel.

var _ engine.Handler = (*Node)(nil)

type accepted struct {
	claims  auth.Claims
	device  string
	ip      string   // the client's, for its count in --max-connections-per-ip
	headers []string // forwarded to command backends (origin.go)
}

// Authenticate implements engine.Handler: the user is the token's sub,
// never anything the client merely claims.
func (n *Node) Authenticate(hs *engine.Handshake) (any, error) {
	if n.draining.Load() {
		n.metrics.refused.WithLabelValues("shutdown").Inc()
		return nil, &engine.ConnectError{Message: "node is shutting down", Data: map[string]any{"code": 503}}
	}
	if reason := n.overloaded(); reason != "" {
		n.metrics.refused.WithLabelValues(reason).Inc()
		return nil, &engine.ConnectError{Message: "node is overloaded (" + reason + "); retry", Data: map[string]any{"code": 503}}
	}
	// Checked before the upgrade too; between the two the node may have
	// filled up, or a polling client may have opened many sessions.
	ip := n.clientIP(hs)
	if r, ok := n.roomFor(ip); !ok {
		return nil, n.refuseConnect(r, "too many connections")
	}
	claims, err := n.identify(hs, ip)
	if err != nil {
		return nil, err
	}
	device, _ := hs.Auth["device"].(string)
	if device == "" {
		// One device per user when the client names none: reconnects of it
		// still see their own acknowledgements.
		device = "default"
	}
	if !push.ValidName(claims.Sub) || !push.ValidName(device) {
		n.metrics.refused.WithLabelValues("bad_name").Inc()
		return nil, &engine.ConnectError{Message: "user or device name invalid (1-256 bytes of UTF-8)", Data: map[string]any{"code": 400}}
	}
	return accepted{claims: claims, device: device, ip: ip, headers: n.forwardedHeaders(hs.Header)}, nil
}

// Connected implements engine.Handler.
func (n *Node) Connected(c engine.Conn, a any) {
	acc := a.(accepted)
	n.connecting.Add(1)
	defer n.connecting.Add(-1)
	s := session.New(n.sessionOpts, c, acc.claims, acc.device)
	n.metrics.connects.Inc()
	// Checked at the handshake, counted from here to the close, before the
	// store work below: the client has its CONNECT answer already, and its
	// next handshake must find this one counted. Only a connection counted
	// is uncounted: one that raced past a full IP must not take another's
	// place when it goes.
	counted := n.limits.ipConns.Add(acc.ip)
	ctx, cancel := n.storeContext()
	defer cancel()
	// Arrived before OnClose is set: a connection that is already gone is
	// removed right there, and its Remove must come after the arrival.
	// (Its events wait until Connected returns.)
	start := time.Now()
	n.hub.Arrive(ctx, s)
	took := time.Since(start)
	n.metrics.arrivals.Observe(took.Seconds())
	n.arrivalTime.observe(took)
	lim := newConnLimits(&n.limits, time.Now())
	exp := n.watchExpiry(s, acc.claims)
	from := command.Origin{ClientIP: acc.ip, Headers: acc.headers}
	c.OnEvent(func(event string, args []any, ack func(...any)) { n.onClientEvent(s, lim, exp, from, event, args, ack) })
	c.OnClose(func(reason string) {
		exp.stop()
		if counted {
			n.limits.ipConns.Done(acc.ip)
		}
		n.hub.Remove(s, reason)
	})
}

func (n *Node) onClientEvent(s *session.Session, lim *connLimits, exp *expiry, from command.Origin, event string, args []any, ack func(...any)) {
	reply := func(v any) {
		if ack != nil {
			ack(v)
		}
	}
	var arg map[string]any
	if len(args) > 0 {
		arg, _ = args[0].(map[string]any)
	}
	switch event {
	case "join", "leave":
		if n.overRate(lim.allowJoin(), "join_rate", "joins and leaves", reply) {
			return
		}
		room, _ := arg["room"].(string)
		ctx, cancel := n.storeContext()
		defer cancel()
		do := n.hub.ClientJoin
		if event == "leave" {
			do = n.hub.ClientLeave
		}
		if err := do(ctx, s, room); err != nil {
			reply(errcode.AckFail(err))
			return
		}
		reply(errcode.AckOK(nil))
	case "refresh":
		// as rare as joins, and a token check is not free
		if n.overRate(lim.allowJoin(), "join_rate", "refreshes", reply) {
			return
		}
		ctx, cancel := n.storeContext()
		defer cancel()
		if err := n.refresh(ctx, s, exp, arg); err != nil {
			reply(errcode.AckFail(err))
			return
		}
		reply(errcode.AckOK(nil))
	case "cmd":
		if n.overRate(lim.allowCmd(), "cmd_rate", "commands", reply) {
			return
		}
		n.commands.ServeEvent(command.Client{User: s.User, Device: s.Device, Origin: from, Slots: s}, arg, reply)
	default:
		reply(errcode.AckFail(errcode.New(errcode.UnknownEvent, "unknown event "+event)))
	}
}

// overloaded names why the node sheds new clients now ("" when it takes
// them): the store is unreachable, or slow: arrivals take longer than
// slowArrival while many wait, or MaxConnecting wait at all. A burst that
// the store keeps up with (a node's clients all coming back at once) is
// taken; a refused client retries (elsewhere, behind a balancer) instead of
// queueing here and making a slow store slower still.
func (n *Node) overloaded() string {
	waiting := int(n.connecting.Load())
	switch {
	case !n.peers.StoreReachable():
		return "store_unreachable"
	case waiting >= n.cfg.MaxConnecting:
		return "store_slow"
	case waiting >= minSlowWaiting && n.arrivalTime.average() >= slowArrival:
		return "store_slow"
	}
	return ""
}

// An arrival this slow on average, with at least minSlowWaiting under way,
// means the store no longer keeps up.
const (
	slowArrival    = time.Second
	minSlowWaiting = 64
)

// movingTime is an exponentially weighted moving average of durations
// (weight 1/8 for the newest), safe for concurrent use.
type movingTime struct{ ns atomic.Int64 }

func (m *movingTime) observe(d time.Duration) {
	for {
		old := m.ns.Load()
		if m.ns.CompareAndSwap(old, old+(int64(d)-old)/8) {
			return
		}
	}
}

func (m *movingTime) average() time.Duration { return time.Duration(m.ns.Load()) }

// shedHandshakes refuses a new socket.io session with 503 and Retry-After
// before any upgrade while the node is overloaded, or with 429/503 past a
// client's limits; requests of sessions already open pass. JSONP
// long-polling (the j= parameter) gets Engine.IO's "bad request" unless
// --jsonp: it is served to script tags and forms of any site, past the
// CORS check that guards the XHR transport. The query is parsed once here,
// on every socket.io request.
func (n *Node) shedHandshakes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !n.cfg.JSONP && q.Has("j") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"code":3,"message":"Bad request: JSONP polling is off (--jsonp)"}`))
			return
		}
		if q.Get("sid") == "" {
			if reason := n.overloaded(); reason != "" {
				n.refuseHTTP(w, refusal{reason, http.StatusServiceUnavailable}, "node is overloaded")
				return
			}
			if ref, ok := n.admit(n.limits.proxies.ClientIP(r), r.Header.Get("User-Agent")); !ok {
				n.refuseHTTP(w, ref, "too many connections")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
