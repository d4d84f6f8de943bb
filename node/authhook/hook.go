// Package authhook authenticates clients with the business's own endpoint
// (SPEC "Identity and integration", --auth-hook): a handshake or an HTTP
// call that carries no valid courier token is described to the hook (the
// forwarded headers, the client IP, the handshake's auth and query) and the
// hook answers who it is, which rooms it may join and for how long.
package authhook

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Request is what the hook is told, as JSON.
type Request struct {
	Headers map[string]string `json:"headers"` // lower-case name -> value, those of Config.Headers
	IP      string            `json:"ip"`
	Auth    map[string]any    `json:"auth"`
	Query   map[string]string `json:"query"`
}

// Answer is an accepting hook's 200 body.
type Answer struct {
	User      string   `json:"user"`
	Rooms     []string `json:"rooms"`
	ExpiresIn float64  `json:"expires_in"` // seconds; 0: no end, and not cached
}

// Refused is the hook's 401 or 403.
type Refused struct {
	Status  int
	Message string
}

func (e *Refused) Error() string {
	return fmt.Sprintf("auth hook refused (%d): %s", e.Status, e.Message)
}

// ErrUnavailable wraps every failure to get an answer: a timeout, a 5xx,
// an unreachable hook, a malformed answer, too many calls in flight. The
// client gets 503 and retries.
var ErrUnavailable = errors.New("auth hook unavailable")

// Config sets up a Hook. Zero values take the defaults.
type Config struct {
	// URL is http(s)://... (a JSON POST) or trpc://host:port/pkg.Service/Method.
	URL string
	// Headers are the request headers told to the hook (default Cookie,
	// Authorization, User-Agent, Origin).
	Headers []string
	// Timeout bounds one call (default 2s).
	Timeout time.Duration
	// MaxInFlight bounds the calls under way; past it a client gets 503 at
	// once (default 256).
	MaxInFlight int
	// MaxCached bounds the answers kept (default 100,000).
	MaxCached int
	// Caller makes tRPC calls (trpc:// URLs); nil: refused.
	Caller TRPCCaller
	Log    *slog.Logger
	Now    func() time.Time
}

// TRPCCaller makes one JSON tRPC call: func_ret is the method's own code.
type TRPCCaller interface {
	CallJSON(ctx context.Context, addr, callee, fn string, body []byte) (answer []byte, funcRet int32, err error)
}

// transportParams are Engine.IO's own query parameters: the client's
// transport, not its business (t changes on every poll), so the hook is not
// told them and they do not split the cache.
var transportParams = map[string]bool{"EIO": true, "transport": true, "t": true, "sid": true, "j": true, "b64": true}

// DefaultHeaders are the headers told to the hook by default.
var DefaultHeaders = []string{"Cookie", "Authorization", "User-Agent", "Origin"}

// Hook calls the auth hook. Safe for concurrent use.
type Hook struct {
	cfg      Config
	http     *http.Client
	trpcAddr string // host:port of a trpc:// URL
	callee   string
	fn       string
	inFlight atomic.Int64
	cache    *cache
}

// New checks cfg.
func New(cfg Config) (*Hook, error) {
	if cfg.Headers == nil {
		cfg.Headers = DefaultHeaders
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.MaxCached <= 0 {
		cfg.MaxCached = 100_000
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Hook{cfg: cfg, cache: newCache(cfg.MaxCached)}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--auth-hook %q: want http(s)://host[:port]/path or trpc://host:port/pkg.Service/Method", cfg.URL)
	}
	switch u.Scheme {
	case "http", "https":
		h.http = &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}
	case "trpc":
		parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
		if len(parts) != 2 || !strings.Contains(parts[0], ".") || parts[1] == "" || u.Port() == "" {
			return nil, fmt.Errorf("--auth-hook %q: a tRPC hook is trpc://host:port/pkg.Service/Method", cfg.URL)
		}
		if cfg.Caller == nil {
			return nil, errors.New("authhook: a trpc:// hook needs a Caller")
		}
		h.trpcAddr, h.callee, h.fn = u.Host, parts[0], "/"+parts[0]+"/"+parts[1]
	default:
		return nil, fmt.Errorf("--auth-hook %q: the scheme must be http, https or trpc", cfg.URL)
	}
	return h, nil
}

// Describe builds the hook's Request from what a client sent.
func (h *Hook) Describe(header http.Header, ip string, auth map[string]any, query url.Values) Request {
	req := Request{Headers: map[string]string{}, IP: ip, Auth: auth, Query: map[string]string{}}
	for _, name := range h.cfg.Headers {
		if v := header.Get(name); v != "" {
			req.Headers[strings.ToLower(name)] = v
		}
	}
	if req.Auth == nil {
		req.Auth = map[string]any{}
	}
	for k, vs := range query {
		if len(vs) > 0 && !transportParams[k] {
			req.Query[k] = vs[0]
		}
	}
	return req
}

// Authenticate asks the hook (or its cache) about req. Errors are *Refused
// or wrap ErrUnavailable.
func (h *Hook) Authenticate(ctx context.Context, req Request) (Answer, error) {
	key := cacheKey(req)
	now := h.cfg.Now()
	if a, ok := h.cache.get(key, now); ok {
		return a, nil
	}
	if h.inFlight.Add(1) > int64(h.cfg.MaxInFlight) {
		h.inFlight.Add(-1)
		return Answer{}, fmt.Errorf("%w: %d calls in flight", ErrUnavailable, h.cfg.MaxInFlight)
	}
	defer h.inFlight.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	body, err := json.Marshal(req)
	if err != nil {
		return Answer{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var a Answer
	if h.http != nil {
		a, err = h.callHTTP(ctx, body)
	} else {
		a, err = h.callTRPC(ctx, body)
	}
	if err != nil {
		return Answer{}, err
	}
	if a.ExpiresIn > 0 {
		h.cache.put(key, a, now, now.Add(time.Duration(a.ExpiresIn*float64(time.Second))))
	}
	return a, nil
}

// accept checks an accepting answer's body.
func accept(body []byte) (Answer, error) {
	var a Answer
	if err := json.Unmarshal(body, &a); err != nil {
		return Answer{}, fmt.Errorf("%w: its answer is not the JSON {user, rooms, expires_in}: %v", ErrUnavailable, err)
	}
	if a.User == "" || len(a.User) > 256 || a.ExpiresIn < 0 {
		return Answer{}, fmt.Errorf("%w: its answer names no user (or a negative expires_in)", ErrUnavailable)
	}
	return a, nil
}

// cacheKey identifies what the hook's answer depends on: the forwarded
// credentials and the handshake's auth and query (not the IP, which changes
// between a phone's networks).
func cacheKey(req Request) [32]byte {
	names := make([]string, 0, len(req.Headers))
	for k := range req.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, k := range names {
		fmt.Fprintf(h, "%s\x00%s\x00", k, req.Headers[k])
	}
	auth, _ := json.Marshal(req.Auth) // map keys sorted
	query, _ := json.Marshal(req.Query)
	h.Write(auth)
	h.Write([]byte{0})
	h.Write(query)
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}
