package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"courier/node/errcode"
	"courier/node/push"
	"courier/node/trace"
)

// maxEnvelope is what a request body may hold beside its data: addressing,
// event name, keys. Bodies past data limit + this are refused unread.
const maxEnvelope = 1 << 20

// Server is the push API's HTTP handler.
type Server struct {
	cfg     Config
	svc     Service
	log     *slog.Logger
	limiter *keyLimiter
	mux     *http.ServeMux
	paths   *http.ServeMux // every route's path, any method: see servesPath
}

// New makes the API handler for the /v1/ routes (node/README.md, Push API).
func New(cfg Config, svc Service, log *slog.Logger) (*Server, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("api: at least one key is required")
	}
	if cfg.MaxDataBytes == 0 {
		cfg.MaxDataBytes = push.DefaultMaxDataBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, svc: svc, log: log, mux: http.NewServeMux(), paths: http.NewServeMux()}
	if cfg.RatePerKey > 0 {
		s.limiter = newKeyLimiter(cfg.RatePerKey, cfg.Now)
	}
	s.handle("POST /v1/push", s.push)
	s.handle("POST /v1/rooms/{room}/join", s.joinRoom)
	s.handle("POST /v1/rooms/{room}/leave", s.leaveRoom)
	s.handle("GET /v1/rooms/{room}", s.room)
	s.handle("GET /v1/users/{user}", s.user)
	s.handle("POST /v1/users/{user}/disconnect", s.disconnect)
	s.handle("GET /v1/cluster", s.cluster)
	s.handle("PUT /v1/dye/{user}", s.setDye)
	s.handle("GET /v1/dye", s.listDyes)
	s.handle("DELETE /v1/dye/{user}", s.clearDye)
	s.handle("GET /v1/trace", s.traceCall)
	s.handle("GET /v1/users/{user}/mailbox", s.mailboxCall)
	s.handle("GET /v1/admin/log-level", s.logLevel)
	s.handle("PUT /v1/admin/log-level", s.setLogLevel)
	s.handle("POST /v1/call/{service}/{method}", s.call)
	s.handle("GET /v1/call/{service}/{method}", s.call)
	s.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, errcode.New(errcode.NotFound, "no such call: "+r.Method+" "+r.URL.Path))
	})
	return s, nil
}

// Handle serves pattern (under /v1/) on the API's mux, behind the same
// API-key check, rate limit, trace ids and logging as the built-in calls.
// It lets a package that owns part of the API (node/polls) mount its calls
// without api importing it. Call it before the handler serves requests.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	// The same path under any method, so that a wrong method is told from
	// an unknown path by the routes themselves.
	_, path, _ := strings.Cut(pattern, " ")
	if path == "" {
		path = pattern
	}
	if _, known := s.paths.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}}); known != path {
		s.paths.Handle(path, http.NotFoundHandler())
	}
}

func (s *Server) handle(pattern string, h http.HandlerFunc) { s.Handle(pattern, h) }

// servesPath reports whether some route serves r's path under another
// method: a wrong method (405), not an unknown path (404).
func (s *Server) servesPath(r *http.Request) bool {
	_, pattern := s.paths.Handler(&http.Request{Method: http.MethodGet, URL: r.URL, Host: r.Host})
	return pattern != ""
}

// Handler is the API with trace ids, logging and authentication around it.
func (s *Server) Handler() http.Handler {
	return traced(s.log, http.HandlerFunc(s.serve))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1/call/") {
		s.mux.ServeHTTP(w, r) // clients call with their own JWT, not an API key
		return
	}
	key, ok := s.authenticate(r)
	if ok {
		r = r.WithContext(context.WithValue(r.Context(), apiKeyCtx{}, key))
	} else if s.cfg.AdminAuth != nil && s.cfg.AdminAuth(r) {
		if e := adminCSRF(r); e != nil {
			WriteError(w, e)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), adminCtx{}, true))
	} else {
		WriteError(w, errcode.New(errcode.Unauthorized, "missing or bad API key: send Authorization: Bearer <key>"))
		return
	}
	if s.limiter != nil && ok && !s.limiter.allow(key) {
		WriteError(w, errcode.New(errcode.RateLimited, "too many requests for this API key"))
		return
	}
	// The mux answers a wrong method with a plain-text 405; keep errors JSON.
	if _, pattern := s.mux.Handler(r); pattern == "" || (pattern == "/v1/" && s.servesPath(r)) {
		WriteError(w, errcode.New(errcode.MethodNotAllowed, r.Method+" is not served on "+r.URL.Path))
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authenticate(r *http.Request) (string, bool) {
	return matchKey(s.cfg.Keys, r.Header.Get("Authorization"))
}

// matchKey finds the API key an authorization value ("Bearer <key>")
// names (FindKey).
func matchKey(keys []string, authorization string) (string, bool) {
	token, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || token == "" {
		return "", false
	}
	if i := FindKey(keys, token); i >= 0 {
		return keys[i], true
	}
	return "", false
}

// FindKey is the index of candidate among keys (API keys, admin keys), or
// -1. Every key is compared, on SHA-256 digests in constant time, so the
// time taken tells neither which key matched nor how long the keys are.
func FindKey(keys []string, candidate string) int {
	c := sha256.Sum256([]byte(candidate))
	found := -1
	for i, k := range keys {
		d := sha256.Sum256([]byte(k))
		if subtle.ConstantTimeCompare(d[:], c[:]) == 1 && found < 0 {
			found = i
		}
	}
	return found
}

// AdminHeader must be "1" on an admin's change (any method but GET and
// HEAD) authenticated by the session cookie alone: a cross-site form or
// link cannot send it, so the cookie cannot be ridden (SameSite aside).
const AdminHeader = "X-Courier-Admin"

// adminCSRF refuses a cookie-authenticated admin change without
// AdminHeader. A request with an Authorization header was authenticated by
// the admin key itself, which no other site holds.
func adminCSRF(r *http.Request) *errcode.Error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Header.Get("Authorization") != "" || r.Header.Get(AdminHeader) == "1" {
		return nil
	}
	return errcode.New(errcode.Forbidden, "an admin session's "+r.Method+" needs the header "+AdminHeader+": 1")
}

// apiKeyCtx carries the API key a request authenticated with.
type apiKeyCtx struct{}

// adminCtx marks a request authenticated as the operator (an admin key or
// the admin UI's session): it may do what an API key does, the API rate
// limit aside.
type adminCtx struct{}

// IsAdmin reports whether the request of ctx was authenticated as the
// operator (Config.AdminAuth) rather than by an API key.
func IsAdmin(ctx context.Context) bool {
	admin, _ := ctx.Value(adminCtx{}).(bool)
	return admin
}

// adminScope is the idempotency scope of every admin request: not a
// KeyScope (those are hex), so it never meets an API key's ids.
const adminScope = "admin"

// keyScope is the idempotency scope of the request's API key.
func keyScope(ctx context.Context) string {
	if IsAdmin(ctx) {
		return adminScope
	}
	key, _ := ctx.Value(apiKeyCtx{}).(string)
	return push.KeyScope(key)
}

// decode reads a JSON body of at most limit bytes into v.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return errcode.New(errcode.TooLarge, fmt.Sprintf("request body over %d bytes", limit))
	case err != nil:
		return errcode.New(errcode.BadRequest, "reading body: "+err.Error())
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errcode.New(errcode.BadRequest, "body is not valid JSON for this call: "+err.Error())
	}
	return nil
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers {"error": e} with e's status.
func WriteError(w http.ResponseWriter, e *errcode.Error) {
	if e.Code == errcode.RateLimited && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	WriteJSON(w, e.Code.HTTPStatus(), map[string]*errcode.Error{"error": e})
}

// Fail answers err: its own code when it is an *errcode.Error, else a 500
// naming the call's trace id, with err logged under that id.
func Fail(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *errcode.Error
	if errors.As(err, &e) {
		WriteError(w, e)
		return
	}
	var conflict *push.Conflict
	if errors.As(err, &conflict) {
		WriteJSON(w, http.StatusConflict, conflictBody(conflict))
		return
	}
	traceID := trace.ID(r.Context())
	log.Error("api call failed", "trace", traceID, "path", r.URL.Path, "err", err)
	WriteError(w, internalError(traceID))
}

// conflictBody is SPEC's answer to a reused idempotency id: the error and
// the first request's message id.
func conflictBody(c *push.Conflict) any {
	return struct {
		Error *errcode.Error `json:"error"`
		ID    string         `json:"id"`
	}{c.Err(), c.ID}
}

func internalError(traceID string) *errcode.Error {
	return errcode.New(errcode.Internal, "internal error; trace id "+traceID)
}

// fail is Fail with the API's logger.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) { Fail(w, r, s.log, err) }
