package polls

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"courier/node/api"
	"courier/node/errcode"
	"courier/node/trace"
)

// Mux is where Routes registers: *api.Server (behind its API-key check,
// rate limit and trace ids) or a plain *http.ServeMux in tests.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Status is one task as GET /v1/polls shows it: the task's own fields, the
// node that runs it ("" while nobody does), and when it last ran and last
// pushed a changed answer (absent before the first run).
type Status struct {
	Task
	Node       string
	LastRun    time.Time
	LastChange time.Time
}

// MarshalJSON flattens the task's fields beside the status fields.
func (s Status) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		taskJSON
		Node       string    `json:"node"`
		LastRun    time.Time `json:"last_run,omitzero"`
		LastChange time.Time `json:"last_change,omitzero"`
	}{s.Task.wire(), s.Node, s.LastRun, s.LastChange})
}

// maxBody bounds a POST body: the data limit plus room for the rest.
const maxBody = MaxDataBytes + 1<<20

type handlers struct {
	store Store
	log   *slog.Logger
}

// Routes serves the polling-task calls on mux:
//
//	POST   /v1/polls         create (201) or replace (200) a task; answers the task
//	GET    /v1/polls         {"polls": [Status, ...]}, sorted by name
//	GET    /v1/polls/{name}  one Status, or 404
//	DELETE /v1/polls/{name}  204, or 404 when there is no such task
//
// Errors are the API's {"error": {"code", "message"}}: 400 for a bad task,
// 404, 413, and 503 when the store is unreachable; mounted on the API, a
// wrong method gets its 405.
func Routes(mux Mux, store Store, log *slog.Logger) {
	h := &handlers{store: store, log: log}
	mux.Handle("POST /v1/polls", http.HandlerFunc(h.put))
	mux.Handle("GET /v1/polls", http.HandlerFunc(h.list))
	mux.Handle("GET /v1/polls/{name}", http.HandlerFunc(h.get))
	mux.Handle("DELETE /v1/polls/{name}", http.HandlerFunc(h.delete))
}

func (h *handlers) put(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		api.WriteError(w, errcode.New(errcode.TooLarge, fmt.Sprintf("request body over %d bytes", maxBody)))
		return
	case err != nil:
		api.WriteError(w, errcode.New(errcode.BadRequest, "reading body: "+err.Error()))
		return
	}
	var t Task
	if err := json.Unmarshal(body, &t); err != nil {
		api.WriteError(w, errcode.New(errcode.BadRequest, "body is not a polling task: "+err.Error()))
		return
	}
	if err := t.Validate(); err != nil {
		h.fail(w, r, err)
		return
	}
	created, err := h.store.Put(r.Context(), t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	api.WriteJSON(w, status, t)
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) {
	tasks, err := h.store.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]Status, 0, len(tasks))
	for _, t := range tasks {
		s, err := h.status(r, t)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		out = append(out, s)
	}
	api.WriteJSON(w, http.StatusOK, map[string][]Status{"polls": out})
}

func (h *handlers) get(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	t, ok, err := h.store.Get(r.Context(), name)
	if err == nil && !ok {
		err = errcode.New(errcode.NotFound, "no polling task named "+name)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	s, err := h.status(r, t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, s)
}

// status adds the lease holder and the last result: two more reads per
// task, which is fine for an admin call over a handful of tasks.
func (h *handlers) status(r *http.Request, t Task) (Status, error) {
	s := Status{Task: t}
	l, held, err := h.store.Lease(r.Context(), t.Name)
	if err != nil {
		return s, err
	}
	if held {
		s.Node = l.Node
	}
	res, ok, err := h.store.LastResult(r.Context(), t.Name)
	if err != nil {
		return s, err
	}
	if ok {
		s.LastRun, s.LastChange = res.At, res.Changed
	}
	return s, nil
}

func (h *handlers) delete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	existed, err := h.store.Delete(r.Context(), name)
	if err == nil && !existed {
		err = errcode.New(errcode.NotFound, "no polling task named "+name)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fail answers err as the API does (api.Fail), and 503 for a store that
// cannot be reached.
func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrUnavailable) {
		h.log.Warn("polls store failed", "trace", trace.ID(r.Context()), "err", err)
		err = errcode.New(errcode.Unavailable, "task store unavailable; retry")
	}
	api.Fail(w, r, h.log, err)
}
