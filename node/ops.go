package node

import (
	"context"
	"encoding/json"
	"log/slog"
	rtmetrics "runtime/metrics"
	"strings"
	"time"

	"courier/node/command"
	"courier/node/errcode"
	"courier/node/hub"
	"courier/node/push"
	"courier/node/trace"
	"courier/router/opsbus"
)

// The operator's side of the node (SPEC, Operations): live traces and
// trace records on the ops bus (router/opsbus), the mailbox and log level
// as the admin UI sees them, and the node's figures for the cluster view.

// figuresEvery is how often a node reports its figures on the bus.
const figuresEvery = 2 * time.Second

// Watch implements api.Service: the live events of user, cluster-wide.
func (n *Node) Watch(ctx context.Context, user string) (<-chan opsbus.Event, error) {
	if !push.ValidName(user) {
		return nil, push.BadName("user")
	}
	// Ended by the caller, or when Shutdown begins.
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(n.traces, cancel)
	context.AfterFunc(ctx, func() { stop() })
	ch, err := n.stores.ops.Watch(ctx, user)
	if err != nil {
		cancel()
		n.log.Warn("trace not started", "trace", trace.ID(ctx), "user", user, "err", err)
		return nil, errcode.New(errcode.Unavailable, "store unavailable; retry")
	}
	return ch, nil
}

// TraceRecord implements api.Service: the events kept under a trace id.
func (n *Node) TraceRecord(ctx context.Context, id string) ([]opsbus.Event, error) {
	evs, err := n.stores.ops.Trace(ctx, id)
	if err != nil {
		n.log.Warn("trace record not read", "trace", trace.ID(ctx), "id", id, "err", err)
		return nil, errcode.New(errcode.Unavailable, "store unavailable; retry")
	}
	return evs, nil
}

// Mailbox implements api.Service (node/hub).
func (n *Node) Mailbox(ctx context.Context, user string) (hub.MailboxInfo, error) {
	return n.hub.Mailbox(ctx, user)
}

// LogLevel implements api.Service.
func (n *Node) LogLevel() string {
	if n.cfg.LogLevel == nil {
		return ""
	}
	return strings.ToLower(n.cfg.LogLevel.Level().String())
}

// SetLogLevel implements api.Service: this node's level, or every node's.
func (n *Node) SetLogLevel(ctx context.Context, level string, cluster bool) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return errcode.New(errcode.BadRequest, `"level" must be debug, info, warn or error`)
	}
	if n.cfg.LogLevel == nil {
		return errcode.New(errcode.Unavailable, "this node's log level is fixed (it was built without a level variable)")
	}
	if !cluster {
		n.setLevel(l, "api")
		return nil
	}
	err := n.stores.ops.Announce(ctx, opsbus.Setting{Name: settingLogLevel, Value: l.String(), From: n.cfg.NodeID})
	if err != nil {
		n.log.Warn("log level not announced", "trace", trace.ID(ctx), "err", err)
		return errcode.New(errcode.Unavailable, "store unavailable; the level was not changed")
	}
	return nil
}

const settingLogLevel = "log-level"

func (n *Node) setLevel(l slog.Level, from string) {
	old := n.cfg.LogLevel.Level()
	n.cfg.LogLevel.Set(l)
	// Logged at the louder of the two, so the change shows either way.
	n.log.Log(n.ctx, max(old, l, slog.LevelInfo), "log level changed", "from", old, "to", l, "by", from)
}

// takeSetting applies a setting announced on the bus.
func (n *Node) takeSetting(s opsbus.Setting) {
	if s.Name != settingLogLevel || n.cfg.LogLevel == nil {
		return
	}
	var l slog.Level
	if l.UnmarshalText([]byte(s.Value)) == nil {
		n.setLevel(l, "node "+s.From)
	}
}

// reportFigures puts this node's figures on the bus until the node stops.
func (n *Node) reportFigures() {
	tick := time.NewTicker(figuresEvery)
	defer tick.Stop()
	samples := []rtmetrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	lastCount, lastAt := n.metrics.deliveredCount(), time.Now()
	for {
		rtmetrics.Read(samples)
		now := time.Now()
		count := n.metrics.deliveredCount()
		rate := float64(count-lastCount) / now.Sub(lastAt).Seconds()
		lastCount, lastAt = count, now
		f := opsbus.NodeFigures{Node: n.cfg.NodeID, At: now, Sessions: n.hub.Count(), MsgsPerSec: rate,
			MemoryBytes: samples[0].Value.Uint64() - samples[1].Value.Uint64(), LogLevel: n.LogLevel()}
		ctx, cancel := context.WithTimeout(n.ctx, time.Second)
		_ = n.stores.ops.Report(ctx, f) // a gap in the cluster view, nothing more
		cancel()
		// The dyed users, for opsTracer: kept fresh here, off the delivery path.
		if n.dyes.refreshing.CompareAndSwap(false, true) {
			n.refreshDyes()
		}
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// record keeps an API call's event under its trace id.
func (n *Node) record(ctx context.Context, ev opsbus.Event) {
	if ev.TraceID = trace.ID(ctx); ev.TraceID != "" {
		n.stores.ops.Publish(ev)
	}
}

// tracedCaller records every command under its trace id and publishes it
// to its user's watchers: name, time taken and result.
type tracedCaller struct {
	next command.Caller
	ops  opsbus.Bus
}

func (c tracedCaller) Call(ctx context.Context, req command.Request) (json.RawMessage, error) {
	start := time.Now()
	out, err := c.next.Call(ctx, req)
	c.ops.Publish(opsbus.Event{Type: opsbus.TypeCmd, User: req.User, Device: req.Device, TraceID: req.TraceID,
		Name: req.Name, MS: float64(time.Since(start).Microseconds()) / 1000, Code: command.ResultCode(err)})
	return out, err
}
