package testkit

import (
	"io"
	"log/slog"
	"sync"
	"testing"
)

// Logger is LoggerAt(t, slog.LevelInfo).
func Logger(t testing.TB) *slog.Logger {
	t.Helper()
	return LoggerAt(t, slog.LevelInfo)
}

// LoggerAt returns a text logger at level that writes through t.Output(), so
// its lines belong to t: shown under the test with -v or when it fails.
//
// The logger goes quiet when t's cleanup registered by this call runs: that
// is after every cleanup registered later (the components built with the
// logger, which may log while they stop), and before the test completes, when
// a write would panic. Goroutines that outlive the test may keep logging.
func LoggerAt(t testing.TB, level slog.Leveler) *slog.Logger {
	t.Helper()
	w := &quietAfter{w: t.Output()}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// quietAfter passes writes to w until stop; safe for concurrent use.
type quietAfter struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
}

func (q *quietAfter) Write(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.done {
		return len(p), nil
	}
	return q.w.Write(p)
}

func (q *quietAfter) stop() {
	q.mu.Lock()
	q.done = true
	q.mu.Unlock()
}
