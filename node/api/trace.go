package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"
)

type traceKey struct{}

// TraceHeader carries the trace id in and out; a caller's own id is kept
// so one id follows a push through the business server and courier.
const TraceHeader = "X-Trace-Id"

// TraceID returns the trace id of the API call ctx belongs to.
func TraceID(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}

// WithTraceID returns ctx carrying id.
func WithTraceID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, traceKey{}, id)
}

// NewTraceID makes a random 16-hex-digit id.
func NewTraceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

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
		id := r.Header.Get(TraceHeader)
		if id == "" || len(id) > 64 {
			id = NewTraceID()
		}
		w.Header().Set(TraceHeader, id)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				log.Error("api panic", "trace", id, "panic", p)
				writeError(rec, internalError(id))
			}
			log.Info("api", "trace", id, "method", r.Method, "path", r.URL.Path, "status", rec.status, "ms", time.Since(start).Milliseconds())
		}()
		next.ServeHTTP(rec, r.WithContext(WithTraceID(r.Context(), id)))
	})
}
