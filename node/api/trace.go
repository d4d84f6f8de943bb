package api

import (
	"log/slog"
	"net/http"
	"time"

	"courier/node/trace"
)

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// traced gives each call a trace id, logs it with its outcome, and turns a
// panic into a 500 that names the trace id instead of a dropped connection.
func traced(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(trace.Header)
		if id == "" || len(id) > 64 {
			id = trace.NewID()
		}
		w.Header().Set(trace.Header, id)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				log.Error("api panic", "trace", id, "panic", p)
				WriteError(rec, internalError(id))
			}
			log.Info("api", "trace", id, "method", r.Method, "path", r.URL.Path, "status", rec.status, "ms", time.Since(start).Milliseconds())
		}()
		next.ServeHTTP(rec, r.WithContext(trace.With(r.Context(), id)))
	})
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// deadlines for streams).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
