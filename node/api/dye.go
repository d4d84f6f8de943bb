package api

import (
	"net/http"
	"time"

	"courier/node/errcode"
)

// setDye serves PUT /v1/dye/{user} {"env", "ttl"}: the user's commands go
// to env's addresses until the ttl is up.
func (s *Server) setDye(w http.ResponseWriter, r *http.Request) {
	var req DyeRequest
	if err := decode(w, r, maxEnvelope, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Env == "" || len(req.Env) > 64 {
		s.fail(w, r, errcode.New(errcode.BadRequest, `"env" must name an environment (1-64 bytes); DELETE clears it`))
		return
	}
	ttl := DefaultDyeTTL
	if req.TTL != nil {
		if *req.TTL <= 0 || *req.TTL > MaxDyeTTL.Seconds() {
			s.fail(w, r, errcode.New(errcode.BadRequest, `"ttl" must be seconds in (0, 2592000] (30 days); default 86400`))
			return
		}
		ttl = time.Duration(*req.TTL * float64(time.Second))
	}
	if err := s.svc.SetDye(r.Context(), r.PathValue("user"), req.Env, ttl); err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, DyeInfo{User: r.PathValue("user"), Env: req.Env, ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Millisecond)})
}

func (s *Server) clearDye(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.SetDye(r.Context(), r.PathValue("user"), "", 0); err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"user": r.PathValue("user"), "env": ""})
}

// listDyes serves GET /v1/dye: [{"user", "env", "expires_at"}], by user.
func (s *Server) listDyes(w http.ResponseWriter, r *http.Request) {
	dyes, err := s.svc.Dyes(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]DyeInfo, len(dyes))
	for i, d := range dyes {
		out[i] = DyeInfo{User: d.User, Env: d.Env, ExpiresAt: d.Expires.UTC().Truncate(time.Millisecond)}
	}
	WriteJSON(w, http.StatusOK, out)
}
