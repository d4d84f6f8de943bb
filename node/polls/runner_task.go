package polls

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync/atomic"
	"time"

	"courier/node/command"
	"courier/node/push"
	"courier/node/trace"
)

// held is a task this node holds the lease of.
type held struct {
	name   string
	token  uint64
	cancel context.CancelFunc
	task   atomic.Pointer[Task] // the newest definition the scan saw
	// validUntil (unix ns) is when the lease may lapse, by the last
	// acquisition or renewal that succeeded: past it, the task does not
	// call, since another node may be running it already.
	validUntil atomic.Int64
}

// run calls the task at once, then every interval, until ctx ends or the
// store refuses its token.
func (r *Runner) run(ctx context.Context, h *held) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		t := h.task.Load()
		if r.cfg.Now().UnixNano() >= h.validUntil.Load() {
			// Renewals are failing: wait for the scan to confirm or drop us.
			timer.Reset(max(scanPeriod(t.Interval), minScan))
			continue
		}
		start := time.Now()
		if fenced := r.runOnce(ctx, h, t); fenced {
			r.drop(h, "fenced")
			return
		}
		// The next call is an interval after this one started; a call that
		// took longer than that is followed at once, never overlapped.
		timer.Reset(max(t.Interval-time.Since(start), 0))
	}
}

// runOnce calls the command once; when the answer differs from the last
// recorded one it pushes it, then records it with this lease's token. It
// reports fenced when the store refused the token.
//
// Pushing before recording means a node that dies in between leaves the
// change unrecorded, and its successor pushes it again: at least once, as
// every push. A holder that paused past its lease pushes at most once more
// before its record is refused.
func (r *Runner) runOnce(ctx context.Context, h *held, t *Task) (fenced bool) {
	traceID := trace.NewID()
	log := r.log.With("task", h.name, "trace", traceID)
	ctx = trace.With(ctx, traceID)
	// A call is bounded by the interval so calls never pile up.
	cctx, cancel := context.WithTimeout(ctx, t.Interval)
	answer, err := r.cfg.Caller.Call(cctx, command.Request{Name: t.Cmd, Data: t.request(), TraceID: traceID})
	cancel()
	if ctx.Err() != nil {
		return false // stopping: not the backend's fault
	}
	r.cfg.Metrics.Ran(h.name)
	if err == nil && len(bytes.TrimSpace(answer)) == 0 {
		answer = json.RawMessage("null")
	}
	if err == nil && !json.Valid(answer) {
		err = errors.New("the answer is not JSON")
	}
	if err != nil {
		r.cfg.Metrics.Failed(h.name, "call")
		log.Warn("poll command failed", "cmd", t.Cmd, "err", err)
		return false
	}
	hash := answerHash(answer)

	sctx, scancel := context.WithTimeout(ctx, r.cfg.StoreTimeout)
	last, had, err := r.cfg.Store.LastResult(sctx, h.name)
	scancel()
	if err != nil {
		r.cfg.Metrics.Failed(h.name, "store")
		log.Warn("reading a poll's last result failed", "err", err)
		return false
	}
	if !had || last.Hash != hash {
		_, err := r.cfg.Push(ctx, &push.Request{To: t.To, Event: t.Event, Data: answer, TTL: t.TTL})
		if err != nil {
			// Not recorded: the next run sees the change again and retries.
			r.cfg.Metrics.Failed(h.name, "push")
			log.Warn("pushing a poll's answer failed", "err", err)
			return false
		}
		r.cfg.Metrics.Pushed(h.name)
	}
	sctx, scancel = context.WithTimeout(ctx, r.cfg.StoreTimeout)
	ok, err := r.cfg.Store.SetLastResult(sctx, h.name, h.token, hash)
	scancel()
	if err != nil {
		r.cfg.Metrics.Failed(h.name, "store")
		log.Warn("recording a poll's result failed", "err", err)
		return false
	}
	return !ok
}

// answerHash is the SHA-256 of the answer in canonical JSON (object keys
// sorted, no insignificant space, numbers as written), so a backend that
// reorders keys or reformats is not a change.
func answerHash(answer json.RawMessage) string {
	sum := sha256.Sum256(canonical(answer))
	return hex.EncodeToString(sum[:16])
}

func canonical(b []byte) []byte {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // keeps 1.0 and 1e0 apart, and big integers exact
	var v any
	if err := d.Decode(&v); err != nil {
		return b
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}
