package api

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"courier/node/errcode"
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
}

// New makes the API handler for the /v1/ routes of SPEC.md.
func New(cfg Config, svc Service, log *slog.Logger) (*Server, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("api: at least one key is required")
	}
	if cfg.MaxDataBytes == 0 {
		cfg.MaxDataBytes = 64 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, svc: svc, log: log, mux: http.NewServeMux()}
	if cfg.RatePerKey > 0 {
		s.limiter = newKeyLimiter(cfg.RatePerKey, cfg.Now)
	}
	s.mux.HandleFunc("POST /v1/push", s.push)
	s.mux.HandleFunc("POST /v1/rooms/{room}/join", s.joinRoom)
	s.mux.HandleFunc("POST /v1/rooms/{room}/leave", s.leaveRoom)
	s.mux.HandleFunc("GET /v1/rooms/{room}", s.room)
	s.mux.HandleFunc("GET /v1/users/{user}", s.user)
	s.mux.HandleFunc("POST /v1/users/{user}/disconnect", s.disconnect)
	s.mux.HandleFunc("GET /v1/cluster", s.cluster)
	s.mux.HandleFunc("PUT /v1/dye/{user}", s.setDye)
	s.mux.HandleFunc("DELETE /v1/dye/{user}", s.clearDye)
	s.mux.HandleFunc("POST /v1/call/{service}/{method}", s.call)
	s.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errcode.New(errcode.NotFound, "no such call: "+r.Method+" "+r.URL.Path))
	})
	return s, nil
}

// Handle serves pattern (under /v1/) on the API's mux, behind the same
// API-key check, rate limit, trace ids and logging as the built-in calls.
// It lets a package that owns part of the API (node/polls) mount its calls
// without api importing it. Call it before the handler serves requests.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

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
	if !ok {
		writeError(w, errcode.New(errcode.Unauthorized, "missing or bad API key: send Authorization: Bearer <key>"))
		return
	}
	if s.limiter != nil && !s.limiter.allow(key) {
		w.Header().Set("Retry-After", "1")
		writeError(w, errcode.New(errcode.RateLimited, "too many requests for this API key"))
		return
	}
	// The mux answers a wrong method with a plain-text 405; keep errors JSON.
	if _, pattern := s.mux.Handler(r); pattern == "" || (pattern == "/v1/" && knownPath(r.URL.Path)) {
		writeError(w, errcode.New(errcode.MethodNotAllowed, r.Method+" is not served on "+r.URL.Path))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// knownPath tells a wrong method on a served path from an unknown path.
func knownPath(p string) bool {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case len(parts) == 2 && (parts[1] == "push" || parts[1] == "cluster" || parts[1] == "polls"):
		return true
	case len(parts) == 3 && (parts[1] == "rooms" || parts[1] == "users"):
		return true
	case len(parts) == 4 && parts[1] == "rooms" && (parts[3] == "join" || parts[3] == "leave"):
		return true
	case len(parts) == 4 && parts[1] == "users" && parts[3] == "disconnect":
		return true
	case len(parts) == 3 && (parts[1] == "dye" || parts[1] == "polls"):
		return true
	}
	return false
}

func (s *Server) authenticate(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return "", false
	}
	for _, k := range s.cfg.Keys {
		if subtle.ConstantTimeCompare([]byte(k), []byte(token)) == 1 {
			return k, true
		}
	}
	return "", false
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *errcode.Error) {
	writeJSON(w, e.Code.HTTPStatus(), map[string]*errcode.Error{"error": e})
}

func internalError(trace string) *errcode.Error {
	return errcode.New(errcode.Internal, "internal error; trace id "+trace)
}

// fail answers err: its own code when it has one, else a logged 500.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *errcode.Error
	if errors.As(err, &e) {
		writeError(w, e)
		return
	}
	trace := TraceID(r.Context())
	s.log.Error("api call failed", "trace", trace, "path", r.URL.Path, "err", err)
	writeError(w, internalError(trace))
}
