package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"courier/node/errcode"
	"courier/router/opsbus"
)

// The operator's calls (SPEC, Operations): live traces, trace records, a
// user's mailbox and the log level.

const (
	// DefaultTraceSeconds and MaxTraceSeconds bound a live trace's life.
	DefaultTraceSeconds = 600
	MaxTraceSeconds     = 3600
	// traceHeartbeat keeps proxies from closing a quiet stream.
	traceHeartbeat = 15 * time.Second
)

// traceCall serves GET /v1/trace: ?user=U streams the user's events as
// Server-Sent Events for max seconds; ?trace=ID answers the events kept
// under a trace id.
func (s *Server) traceCall(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	user, id := q.Get("user"), q.Get("trace")
	switch {
	case user != "" && id != "":
		s.fail(w, r, errcode.New(errcode.BadRequest, "give either user= (a live trace) or trace= (a trace record), not both"))
	case id != "":
		evs, err := s.svc.TraceRecord(r.Context(), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if evs == nil {
			evs = []opsbus.Event{}
		}
		WriteJSON(w, http.StatusOK, TraceRecord{TraceID: id, Events: evs})
	case user != "":
		s.liveTrace(w, r, user)
	default:
		s.fail(w, r, errcode.New(errcode.BadRequest, "give user= (a live trace) or trace= (a trace record)"))
	}
}

// TraceRecord answers GET /v1/trace?trace=ID.
type TraceRecord struct {
	TraceID string         `json:"trace_id"`
	Events  []opsbus.Event `json:"events"`
}

func (s *Server) liveTrace(w http.ResponseWriter, r *http.Request, user string) {
	secs := DefaultTraceSeconds
	if v := r.URL.Query().Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > MaxTraceSeconds {
			s.fail(w, r, errcode.New(errcode.BadRequest, `"max" must be seconds in [1, 3600]; default 600`))
			return
		}
		secs = n
	}
	life := time.Duration(secs) * time.Second
	ctx, cancel := context.WithTimeout(r.Context(), life)
	defer cancel()
	events, err := s.svc.Watch(ctx, user)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	// The stream outlives the server's write timeout, by design.
	if err := rc.SetWriteDeadline(time.Now().Add(life + 10*time.Second)); err != nil {
		s.fail(w, r, errcode.New(errcode.Internal, "this connection cannot stream: "+err.Error()))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(": tracing " + strconv.Quote(user) + "\n\n"))
	_ = rc.Flush()
	beat := time.NewTicker(traceHeartbeat)
	defer beat.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return // max reached, the client left, or the node stops
			}
			b, _ := json.Marshal(ev)
			if _, err := w.Write(append(append([]byte("data: "), b...), '\n', '\n')); err != nil {
				return
			}
		case <-beat.C:
			if _, err := w.Write([]byte(": beat\n\n")); err != nil {
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// mailboxCall serves GET /v1/users/{user}/mailbox.
func (s *Server) mailboxCall(w http.ResponseWriter, r *http.Request) {
	info, err := s.svc.Mailbox(r.Context(), r.PathValue("user"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, info)
}

// LogLevelRequest is the body of PUT /v1/admin/log-level.
type LogLevelRequest struct {
	Level   string `json:"level"`
	Cluster bool   `json:"cluster"`
}

func (s *Server) logLevel(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"level": s.svc.LogLevel()})
}

// setLogLevel serves PUT /v1/admin/log-level: this node's level, or with
// "cluster": true every node's (announced on the ops bus).
func (s *Server) setLogLevel(w http.ResponseWriter, r *http.Request) {
	var req LogLevelRequest
	if err := decode(w, r, maxEnvelope, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.svc.SetLogLevel(r.Context(), req.Level, req.Cluster); err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"level": req.Level, "cluster": req.Cluster})
}
