package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// A rolling restart, as a deployment does it: one node after the other
// gets SIGTERM (it drains: /readyz 503 for --drain-delay, then tells its
// clients to go over --drain-spread), is waited for until its process has
// ended, is started again with the same id and ports, and is waited for
// until /readyz answers 200; only then the next one.

// rollStep is one node's restart; times are seconds from the roll's start.
type rollStep struct {
	Node       string  `json:"node"`
	TermAt     float64 `json:"sigterm_at"`
	NotReadyAt float64 `json:"not_ready_at,omitempty"` // first /readyz after SIGTERM that was not 200
	GoneAt     float64 `json:"gone_at"`                // the process had ended
	Exit       string  `json:"exit,omitempty"`         // how it ended, when not with status 0
	Killed     bool    `json:"killed,omitempty"`       // it did not end within the bound: SIGKILLed
	StartedAt  float64 `json:"started_at,omitempty"`
	ReadyAt    float64 `json:"ready_at,omitempty"` // /readyz answered 200 again
	Err        string  `json:"error,omitempty"`
}

// rollNode is what the roll does to one node.
type rollNode interface {
	name() string
	terminate() error           // SIGTERM
	exited() <-chan struct{}    // closed once the process has ended (and been reaped)
	exitErr() error             // how it ended, once exited
	kill()                      // SIGKILL, and wait until it has ended
	start() error               // the same command again
	ready(context.Context) bool // one /readyz probe: 200?
}

// rollTimes bound each step: SIGTERM → ended (then SIGKILL), start →
// ready; probe is the /readyz interval.
type rollTimes struct {
	exit, ready, probe time.Duration
}

// rollNodes restarts nodes one after the other and returns a step for each
// node it began. It stops at the first node that cannot be started or does
// not get ready in time: the next one would take the cluster below what
// the measurement assumes.
func rollNodes(ctx context.Context, log *slog.Logger, nodes []rollNode, tm rollTimes) ([]rollStep, error) {
	t0 := time.Now()
	since := func() float64 { return round3(time.Since(t0).Seconds()) }
	var steps []rollStep
	for _, n := range nodes {
		st := rollStep{Node: n.name(), TermAt: since()}
		err := rollOne(ctx, n, tm, since, &st)
		if err != nil {
			st.Err = err.Error()
		}
		steps = append(steps, st)
		log.Info("roll step", "node", st.Node, "not_ready_at", st.NotReadyAt, "gone_at", st.GoneAt,
			"ready_at", st.ReadyAt, "killed", st.Killed, "err", st.Err)
		if err != nil {
			return steps, fmt.Errorf("%s: %w", st.Node, err)
		}
	}
	return steps, nil
}

func rollOne(ctx context.Context, n rollNode, tm rollTimes, since func() float64, st *rollStep) error {
	if err := n.terminate(); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	tick := time.NewTicker(tm.probe)
	defer tick.Stop()
	bound := time.NewTimer(tm.exit)
	defer bound.Stop()
wait:
	for {
		select {
		case <-n.exited():
			break wait
		case <-tick.C:
			if st.NotReadyAt == 0 && !n.ready(ctx) {
				st.NotReadyAt = since()
			}
		case <-bound.C:
			st.Killed = true
			n.kill()
			break wait
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	st.GoneAt = since()
	if err := n.exitErr(); err != nil {
		st.Exit = err.Error()
	}
	if err := n.start(); err != nil {
		return fmt.Errorf("start again: %w", err)
	}
	st.StartedAt = since()
	bound.Reset(tm.ready)
	for {
		select {
		case <-n.exited():
			return fmt.Errorf("exited after its restart: %v", n.exitErr())
		case <-tick.C:
			if n.ready(ctx) {
				st.ReadyAt = since()
				return nil
			}
		case <-bound.C:
			return fmt.Errorf("not ready %s after its restart", tm.ready)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
