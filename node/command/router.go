package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"courier/node/errcode"
)

// Route says where the commands of the callees matching Pattern go.
type Route struct {
	// Pattern is a callee ("trpc.app.echo.Echo") or a prefix ending in "*"
	// ("trpc.app.echo.*"). The longest matching pattern wins.
	Pattern string `yaml:"callee"`
	// Addrs are "host:port"; a host that is a DNS name is resolved (and
	// re-resolved) by the Backend. Calls go round-robin.
	Addrs []string `yaml:"addrs"`
	// Timeout of a call (default RouterConfig.DefaultTimeout).
	Timeout time.Duration `yaml:"timeout"`
	// Envs are per-environment addresses: a dyed user's commands go to
	// Envs[env] when the route has it, else to Addrs.
	Envs map[string][]string `yaml:"envs"`
	// Rate bounds the calls a second sent to the route (burst: one
	// second's worth, at least 1); 0: none. Over it a call fails at once
	// with rate_limited.
	Rate float64 `yaml:"rate"`
	// Concurrency bounds the route's calls in flight; 0: none. Over it a
	// call fails at once with rate_limited, never queues.
	Concurrency int `yaml:"concurrency"`
}

// Invocation is one unary tRPC call as the Backend makes it.
type Invocation struct {
	Callee    string // "trpc.app.echo.Echo"
	Func      string // "/trpc.app.echo.Echo/Say"
	Body      []byte // JSON
	TransInfo map[string][]byte
	Timeout   time.Duration
	// Dyeing marks a dyed user's call: tRPC's dyeing message type bit.
	Dyeing bool
}

// Result is a backend's answer: Ret is the framework's error code, FuncRet
// the method's own; both 0 means Body is the answer.
type Result struct {
	Ret, FuncRet int32
	Msg          string
	Body         []byte
}

// Backend makes tRPC calls. Errors mean no answer came: wrap ErrTimeout or
// ErrUnavailable so the router can tell the client which.
type Backend interface {
	Invoke(ctx context.Context, addr string, inv Invocation) (Result, error)
}

var (
	ErrTimeout     = errors.New("backend did not answer in time")
	ErrUnavailable = errors.New("backend unavailable")
)

// Trans-info keys courier sets on every call, so backends know who asks.
const (
	TransUser   = "courier-user"
	TransDevice = "courier-device"
	TransTrace  = "courier-trace-id"
	TransEnv    = "courier-env"
	// TransClientIP is the client's address (the socket's peer, or from
	// X-Forwarded-For behind a trusted proxy).
	TransClientIP = "courier-client-ip"
	// TransHeaderPrefix + a lower-case header name carries each header
	// named by --forward-headers.
	TransHeaderPrefix = "courier-h-"
	// TransDyeing is tRPC's own dyeing key, set too when the user is dyed
	// (with the dyeing bit of the request's message type, Invocation.Dyeing).
	TransDyeing = "trpc-dyeing-key"
)

// RouterConfig sets up a Router. Zero values take the defaults.
type RouterConfig struct {
	Routes         []Route
	DefaultTimeout time.Duration // default 5s
	Backend        Backend
	// HTTP serves the addresses that are http(s) URLs (default NewHTTP()).
	HTTP Backend
	// Dye looks up a user's environment ("" none); nil: no dyeing.
	Dye func(ctx context.Context, user string) (string, error)
	// Observe is told every call's route pattern ("" when none matched),
	// result code ("ok" or the error code) and duration; nil: nobody.
	Observe func(route, code string, took time.Duration)
	Log     *slog.Logger
}

// Router is the Caller of the node: it resolves a command name to a route,
// picks an address (per the user's environment), and calls the backend.
type Router struct {
	cfg    RouterConfig
	routes []Route                // longest pattern first
	limits map[string]*routeLimit // by pattern, for routes with a rate or a concurrency
	next   atomic.Uint64
}

var _ Caller = (*Router)(nil)

// NewRouter checks the routes and returns a Router.
func NewRouter(cfg RouterConfig) (*Router, error) {
	if cfg.Backend == nil {
		return nil, errors.New("command: RouterConfig.Backend is required")
	}
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	routes := append([]Route(nil), cfg.Routes...)
	for _, r := range routes {
		if err := r.validate(); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(routes, func(i, j int) bool { return len(routes[i].Pattern) > len(routes[j].Pattern) })
	if cfg.HTTP == nil {
		cfg.HTTP = NewHTTP()
	}
	r := &Router{cfg: cfg, routes: routes, limits: map[string]*routeLimit{}}
	for _, rt := range routes {
		if rt.Rate > 0 || rt.Concurrency > 0 {
			r.limits[rt.Pattern] = newRouteLimit(rt, time.Now())
		}
	}
	return r, nil
}

func (r Route) validate() error {
	p := strings.TrimSuffix(r.Pattern, "*")
	switch {
	case r.Pattern == "" || strings.ContainsAny(p, "*/ "):
		return fmt.Errorf("command route %q: the callee pattern is a name with an optional trailing *", r.Pattern)
	case len(r.Addrs) == 0 && len(r.Envs) == 0:
		return fmt.Errorf("command route %q: no address", r.Pattern)
	case r.Timeout < 0:
		return fmt.Errorf("command route %q: negative timeout", r.Pattern)
	case r.Rate < 0 || r.Concurrency < 0:
		return fmt.Errorf("command route %q: negative rate or concurrency", r.Pattern)
	}
	addrs := append([]string(nil), r.Addrs...)
	for _, env := range r.Envs {
		addrs = append(addrs, env...)
	}
	for _, a := range addrs {
		if IsHTTPAddr(a) {
			if u, err := url.Parse(a); err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
				return fmt.Errorf("command route %q: address %q is not an http(s)://host:port[/prefix] URL", r.Pattern, a)
			}
			continue
		}
		if !strings.Contains(a, ":") {
			return fmt.Errorf("command route %q: address %q is not host:port or an http(s) URL", r.Pattern, a)
		}
	}
	return nil
}

// commandName is "/pkg.Service/Method": a dotted callee of identifiers,
// then the method. It is the one rule for command names, of clients'
// `cmd` events, HTTP calls and polling tasks alike.
var commandName = regexp.MustCompile(`^/([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)/[A-Za-z_][A-Za-z0-9_]*$`)

// maxNameLen bounds a command name (bytes).
const maxNameLen = 256

// ParseName splits "/pkg.Service/Method" into the callee "pkg.Service" and
// the func (the whole name).
func ParseName(name string) (callee, fn string, err error) {
	m := commandName.FindStringSubmatch(name)
	if m == nil || len(name) > maxNameLen {
		return "", "", &Error{Code: errcode.BadRequest, Message: `command name must be "/pkg.Service/Method", got "` + truncate(name) + `"`}
	}
	return m[1], name, nil
}

func (r *Router) route(callee string) (Route, bool) {
	for _, rt := range r.routes {
		if rt.Pattern == callee || (strings.HasSuffix(rt.Pattern, "*") && strings.HasPrefix(callee, rt.Pattern[:len(rt.Pattern)-1])) {
			return rt, true
		}
	}
	return Route{}, false
}

// Call implements Caller.
func (r *Router) Call(ctx context.Context, req Request) (json.RawMessage, error) {
	if r.cfg.Observe == nil {
		out, _, err := r.invoke(ctx, req)
		return out, err
	}
	start := time.Now()
	out, route, err := r.invoke(ctx, req)
	r.cfg.Observe(route, ResultCode(err), time.Since(start))
	return out, err
}

// ResultCode names a call's result as metrics and traces show it: "ok",
// the *Error's code, or "internal".
func ResultCode(err error) string {
	var ce *Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ce):
		return string(ce.Code)
	}
	return string(errcode.Internal)
}

// invoke is Call, also naming the route pattern taken ("" when none
// matched): a metrics label, never the command name (unbounded).
func (r *Router) invoke(ctx context.Context, req Request) (json.RawMessage, string, error) {
	callee, fn, err := ParseName(req.Name)
	if err != nil {
		return nil, "", err
	}
	rt, ok := r.route(callee)
	if !ok {
		return nil, rt.Pattern, &Error{Code: errcode.NotFound, Message: "no route for callee " + callee}
	}
	env := ""
	if r.cfg.Dye != nil && req.User != "" {
		if env, err = r.cfg.Dye(ctx, req.User); err != nil {
			return nil, rt.Pattern, &Error{Code: errcode.Unavailable, Message: "user environment unknown: " + err.Error()}
		}
	}
	addrs := rt.Addrs
	if envAddrs, ok := rt.Envs[env]; ok && env != "" && len(envAddrs) > 0 {
		addrs = envAddrs
	}
	if len(addrs) == 0 {
		return nil, rt.Pattern, &Error{Code: errcode.NotFound, Message: "no address for callee " + callee + " outside environment(s) of the route"}
	}
	timeout := rt.Timeout
	if timeout <= 0 {
		timeout = r.cfg.DefaultTimeout
	}
	if req.Timeout > 0 && req.Timeout < timeout {
		timeout = req.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body := []byte(req.Data)
	if len(body) == 0 {
		body = []byte("null")
	}
	if lim := r.limits[rt.Pattern]; lim != nil {
		if err := lim.take(time.Now()); err != nil {
			return nil, rt.Pattern, err
		}
		defer lim.done()
	}
	inv := Invocation{Callee: callee, Func: fn, Body: body, Timeout: timeout, TransInfo: transInfo(req, env), Dyeing: env != ""}
	addr := addrs[r.next.Add(1)%uint64(len(addrs))]
	backend := r.cfg.Backend
	if IsHTTPAddr(addr) {
		backend = r.cfg.HTTP
	}
	res, err := backend.Invoke(ctx, addr, inv)
	switch {
	case errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
		return nil, rt.Pattern, &Error{Code: errcode.Timeout, Message: fmt.Sprintf("%s did not answer within %v", callee, timeout)}
	case err != nil:
		return nil, rt.Pattern, &Error{Code: errcode.Unavailable, Message: callee + " at " + addr + ": " + err.Error()}
	case res.Ret != 0 || res.FuncRet != 0:
		return nil, rt.Pattern, &Error{Code: errcode.BackendError, Message: res.Msg, Ret: res.Ret, FuncRet: res.FuncRet}
	}
	if len(res.Body) == 0 {
		return json.RawMessage("null"), rt.Pattern, nil
	}
	if !json.Valid(res.Body) {
		return nil, rt.Pattern, &Error{Code: errcode.BackendError, Message: callee + " answered a body that is not JSON"}
	}
	return json.RawMessage(res.Body), rt.Pattern, nil
}

func transInfo(req Request, env string) map[string][]byte {
	ti := map[string][]byte{TransTrace: []byte(req.TraceID)}
	if req.User != "" {
		ti[TransUser] = []byte(req.User)
	}
	if req.Device != "" {
		ti[TransDevice] = []byte(req.Device)
	}
	if env != "" {
		ti[TransEnv] = []byte(env)
		ti[TransDyeing] = []byte(env)
	}
	if req.Origin.ClientIP != "" {
		ti[TransClientIP] = []byte(req.Origin.ClientIP)
	}
	for i := 0; i+1 < len(req.Origin.Headers); i += 2 {
		ti[TransHeaderPrefix+req.Origin.Headers[i]] = []byte(req.Origin.Headers[i+1])
	}
	return ti
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// ParseRoute reads the --route form "CALLEE_PATTERN=ADDR[,ADDR...]".
func ParseRoute(s string) (Route, error) {
	pattern, addrs, ok := strings.Cut(s, "=")
	if !ok {
		return Route{}, fmt.Errorf("--route %q: want CALLEE_PATTERN=ADDR[,ADDR...]", s)
	}
	r := Route{Pattern: strings.TrimSpace(pattern)}
	for _, a := range strings.Split(addrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			r.Addrs = append(r.Addrs, a)
		}
	}
	return r, r.validate()
}

// Routes joins the YAML `commands:` table and the --route flags into one
// list (the flags after the table).
func Routes(table []Route, flags []string) ([]Route, error) {
	routes := append([]Route(nil), table...)
	for _, s := range flags {
		r, err := ParseRoute(s)
		if err != nil {
			return nil, err
		}
		routes = append(routes, r)
	}
	return routes, nil
}
