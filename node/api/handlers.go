package api

import (
	"context"
	"net/http"

	"courier/node/errcode"
	"courier/node/push"
)

func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	var req push.Request
	if err := decode(w, r, int64(s.cfg.MaxDataBytes)+maxEnvelope, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	req.Scope = keyScope(r.Context())
	// The service checks req against the push contract (node/push).
	res, err := s.svc.Push(r.Context(), &req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusAccepted, res)
}

func (s *Server) joinRoom(w http.ResponseWriter, r *http.Request) { s.roomUsers(w, r, s.svc.JoinRoom) }
func (s *Server) leaveRoom(w http.ResponseWriter, r *http.Request) {
	s.roomUsers(w, r, s.svc.LeaveRoom)
}

func (s *Server) roomUsers(w http.ResponseWriter, r *http.Request, do func(ctx context.Context, room string, users []string) error) {
	var req UsersRequest
	if err := decode(w, r, maxEnvelope, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Users) == 0 {
		s.fail(w, r, errcode.New(errcode.BadRequest, `"users" must list at least one user`))
		return
	}
	if err := do(r.Context(), r.PathValue("room"), req.Users); err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) room(w http.ResponseWriter, r *http.Request) {
	info, err := s.svc.Room(r.Context(), r.PathValue("room"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, info)
}

func (s *Server) user(w http.ResponseWriter, r *http.Request) {
	info, err := s.svc.User(r.Context(), r.PathValue("user"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, info)
}

func (s *Server) disconnect(w http.ResponseWriter, r *http.Request) {
	n, err := s.svc.DisconnectUser(r.Context(), r.PathValue("user"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]int{"disconnected": n})
}

func (s *Server) cluster(w http.ResponseWriter, r *http.Request) {
	info, err := s.svc.Cluster(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, info)
}
