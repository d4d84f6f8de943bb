package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"courier/node/command"
	"courier/node/errcode"
	"courier/node/push"
	"courier/node/trace"
)

// call serves POST /v1/call/{pkg.Service}/{Method} for clients: their JWT
// says who asks, the body is the command's JSON data, and the answer is
// the backend's JSON body, or {"error": {code, message, ret, func_ret}}.
// GET sends the query string as the data instead (callBody).
func (s *Server) call(w http.ResponseWriter, r *http.Request) {
	user, ok := s.caller(w, r)
	if !ok {
		return
	}
	device := r.Header.Get("X-Courier-Device")
	// The names a socket.io client may have, and no longer (push.ValidName).
	if !push.ValidName(user) || (device != "" && !push.ValidName(device)) {
		WriteError(w, push.BadName("user or device"))
		return
	}
	body, err := callBody(w, r, s.cfg.MaxDataBytes)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || len(body) > s.cfg.MaxDataBytes:
		WriteError(w, errcode.New(errcode.TooLarge, "command data is over the limit of "+itoa(s.cfg.MaxDataBytes)+" bytes"))
		return
	case err != nil:
		WriteError(w, errcode.New(errcode.BadRequest, "reading body: "+err.Error()))
		return
	case len(body) > 0 && !json.Valid(body):
		WriteError(w, errcode.New(errcode.BadRequest, "the body must be JSON"))
		return
	}
	req := command.Request{
		Name:    "/" + r.PathValue("service") + "/" + r.PathValue("method"),
		Data:    body,
		User:    user,
		Device:  device,
		TraceID: trace.ID(r.Context()),
	}
	if s.cfg.Origin != nil {
		req.Origin = s.cfg.Origin(r)
	}
	out, err := s.svc.Call(r.Context(), req)
	var ce *command.Error
	switch {
	case errors.As(err, &ce):
		WriteJSON(w, ce.Code.HTTPStatus(), map[string]*command.Error{"error": ce})
	case err != nil:
		s.fail(w, r, err)
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	}
}

// caller is who calls: the client JWT's user, else (no JWT) what
// AuthenticateRequest says of the request's cookies. It answers the
// refusal itself (ok false).
func (s *Server) caller(w http.ResponseWriter, r *http.Request) (string, bool) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" || s.cfg.VerifyToken == nil {
		if s.cfg.AuthenticateRequest == nil {
			WriteError(w, errcode.New(errcode.Unauthorized, "send Authorization: Bearer <client JWT>"))
			return "", false
		}
		user, err := s.cfg.AuthenticateRequest(r)
		if err != nil {
			s.fail(w, r, err)
			return "", false
		}
		return user, true
	}
	user, err := s.cfg.VerifyToken(token)
	if err != nil {
		WriteError(w, errcode.New(errcode.Unauthorized, "bad client token: "+err.Error()))
		return "", false
	}
	return user, true
}

// callBody is the command's data: a POST's body, or a GET's query string as
// a JSON object, {"k": "v"} (a key given several times: a list of its
// values).
func callBody(w http.ResponseWriter, r *http.Request, max int) ([]byte, error) {
	if r.Method != http.MethodGet {
		return io.ReadAll(http.MaxBytesReader(w, r.Body, int64(max)))
	}
	q := r.URL.Query()
	if len(q) == 0 {
		return nil, nil
	}
	obj := make(map[string]any, len(q))
	for k, vs := range q {
		if len(vs) == 1 {
			obj[k] = vs[0]
		} else {
			obj[k] = vs
		}
	}
	return json.Marshal(obj)
}
