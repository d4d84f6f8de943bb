package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"courier/loadtest/stats"
	"courier/router/trpc"
)

// CmdResult is DIR/result.json of the cmd scenario. The node path's
// numbers are at the top (ok, errors, cmds_per_sec, latency_ms, ...), the
// baseline's under "direct", their difference under "node_added_ms"; the
// SPEC's common fields map as delivered = ok, lost = timeouts.
type CmdResult struct {
	Connected int64 `json:"connected"`
	Failed    int64 `json:"failed"`
	*cmdPhase
	Delivered      int64        `json:"delivered"`
	Lost           int64        `json:"lost"`
	Duplicates     int64        `json:"duplicates"`
	MsgsPerSec     float64      `json:"msgs_per_sec"`
	ServerRSSBytes int64        `json:"server_rss_bytes"`
	Direct         *cmdPhase    `json:"direct,omitempty"`
	NodeAddedMs    *addedMillis `json:"node_added_ms,omitempty"`

	Scenario   string   `json:"scenario"`
	RunID      string   `json:"run_id"`
	Targets    []string `json:"targets"`
	DirectAddr string   `json:"direct_addr,omitempty"`
	Name       string   `json:"name"`
	Clients    int      `json:"clients"`
	Rate       float64  `json:"rate"`
	Duration   string   `json:"duration"`
	Warmup     string   `json:"warmup"`
	CmdTimeout string   `json:"cmd_timeout"`
	PadBytes   int      `json:"pad_bytes"`

	ConnectErrors    map[string]int        `json:"connect_errors,omitempty"`
	ConnectMs        stats.Summary         `json:"connect_ms"`
	Disconnects      int64                 `json:"disconnects"`
	DropReasons      map[string]int        `json:"drop_reasons,omitempty"`
	UnexpectedEvents int64                 `json:"unexpected_events"` // events the node pushed us: none expected
	Nodes            map[string]nodeReport `json:"nodes"`
}

// addedMillis is node − direct at each percentile: what the node adds.
type addedMillis struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
}

// runCmd is the `cmd` scenario: connect the clients, then (with --direct)
// send --rate calls straight to the tRPC backend for --warmup + --duration,
// then the same rate as socket.io cmd events through the node, and compare.
// The fleet stays connected during the direct phase, so both phases run
// with the same processes, connections and memory in place.
func runCmd(ctx context.Context, cfg Config, log *slog.Logger, runID string) (*CmdResult, error) {
	var unexpected atomic.Int64
	var cur atomic.Pointer[cmdRecorder] // the node phase's recorder, once it runs
	f := newFleet(cfg, log.With("part", "fleet"), runID, func(*client, []byte, []byte) { unexpected.Add(1) })
	f.onAck = func(_ *client, id int64, args []byte) {
		if r := cur.Load(); r != nil {
			r.onAck(id, args)
		}
	}
	defer f.closeAll()
	// The node answers limit_exceeded beyond 16 commands in flight on one
	// connection: say from which answer time on that would happen.
	perClient := cfg.Rate / float64(cfg.Clients)
	log.Info("cmd load", "rate_per_client", round3(perClient),
		"limit_exceeded_if_answers_take", time.Duration(maxCommandsInFlightPerConn/perClient*float64(time.Second)).Round(time.Millisecond))

	res := &CmdResult{Scenario: cfg.Scenario, RunID: runID, DirectAddr: cfg.Direct, Name: cfg.CmdName, Clients: cfg.Clients,
		Rate: cfg.Rate, Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(), CmdTimeout: cfg.CmdTimeout.String(), PadBytes: cfg.Pad}
	for _, u := range cfg.Targets {
		res.Targets = append(res.Targets, u.String())
	}
	f.ramp(ctx)
	fill := func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		res.Connected, res.Failed, res.Disconnects = f.connected.Load(), f.failed.Load(), f.disconnects.Load()
		res.ConnectErrors, res.DropReasons = f.errs, f.dropReasons
		res.ConnectMs = stats.Summarize(append([]int64(nil), f.connectLat...))
		res.UnexpectedEvents = unexpected.Load()
	}
	if f.connected.Load() == 0 {
		fill()
		return res, fmt.Errorf("no client connected: %v", f.errs)
	}
	if err := sleep(ctx, cfg.Settle); err != nil {
		fill()
		return res, err
	}
	hc := &http.Client{Timeout: 5 * time.Second}

	if cfg.Direct != "" {
		pool, err := trpc.NewPool(trpc.PoolConfig{Caller: "trpc.courier.loadtest", CallTimeout: cfg.CmdTimeout})
		if err != nil {
			return res, err
		}
		var inflight sync.WaitGroup
		rec := newPhaseRecorder(cfg)
		res.Direct = runPhase(ctx, cfg, log, hc, "direct", rec, sendDirect(ctx, pool, cfg, rec, &inflight), func() { inflight.Wait() })
		pool.Close()
	}
	rec := newPhaseRecorder(cfg)
	cur.Store(rec)
	arg := newCmdArg(cfg.CmdName, cfg.Pad, cfg.SendersN)
	res.cmdPhase = runPhase(ctx, cfg, log, hc, "node", rec, sendViaNode(f, rec, arg), func() {
		// Every answer, or the timeout after the last command.
		for end := time.Now().Add(cfg.CmdTimeout + 500*time.Millisecond); time.Now().Before(end) &&
			rec.answered.Load() < rec.sentN.Load() && ctx.Err() == nil; {
			sleep(ctx, 20*time.Millisecond)
		}
	})

	res.Delivered, res.Lost, res.Duplicates, res.MsgsPerSec = res.OK, res.Timeouts, res.cmdPhase.Duplicates, res.CmdsPerSec
	if d := res.Direct; d != nil && d.OK > 0 && res.OK > 0 {
		res.NodeAddedMs = &addedMillis{P50: round3(res.LatencyMs.P50 - d.LatencyMs.P50),
			P99: round3(res.LatencyMs.P99 - d.LatencyMs.P99), P999: round3(res.LatencyMs.P999 - d.LatencyMs.P999)}
	}
	res.Nodes = map[string]nodeReport{}
	for t, m := range scrapeAll(ctx, hc, cfg, log) {
		res.ServerRSSBytes += m.RSS
		res.Nodes[t] = nodeReport{RSS: m.RSS, Samples: m.Samples}
	}
	fill()
	return res, nil
}

// maxCommandsInFlightPerConn mirrors the node's per-connection bound
// (node/command/client.go): beyond it the node answers limit_exceeded.
const maxCommandsInFlightPerConn = 16

func newPhaseRecorder(cfg Config) *cmdRecorder {
	total := int(math.Ceil(cfg.Rate * (cfg.Warmup + cfg.Duration).Seconds()))
	return newCmdRecorder(total, int(cfg.Rate*cfg.Warmup.Seconds()), cfg.CmdTimeout)
}

// cpuSnap is who had used how much CPU at one instant.
type cpuSnap struct {
	self  float64
	procs map[string]float64
}

func takeCPU(ctx context.Context, hc *http.Client, cfg Config, log *slog.Logger) cpuSnap {
	s := cpuSnap{self: selfCPU().Seconds(), procs: cpuSnapshot(cfg.WatchPIDs)}
	for t, m := range scrapeAll(ctx, hc, cfg, log) {
		for k, v := range m.Samples {
			if strings.HasPrefix(k, "process_cpu_seconds_total") {
				s.procs["node "+t] = v
			}
		}
	}
	return s
}

// runPhase sends warmup + duration worth of commands with send, waits for
// the answers with wait, and summarizes the measured window (after the
// warm-up). CPU is read at the window's start and end.
func runPhase(ctx context.Context, cfg Config, log *slog.Logger, hc *http.Client, name string,
	rec *cmdRecorder, send func(w, seq int), wait func()) *cmdPhase {
	rec.base = time.Now().Add(20 * time.Millisecond) // senders start on time, not late
	log.Info("phase", "name", name, "rate", cfg.Rate, "warmup", cfg.Warmup, "duration", cfg.Duration, "commands", len(rec.recs))
	var cpu0 cpuSnap
	got0 := make(chan struct{})
	go func() {
		defer close(got0)
		sleep(ctx, time.Until(rec.base.Add(cfg.Warmup)))
		cpu0 = takeCPU(ctx, hc, cfg, log)
	}()
	lag := pace(ctx, rec.base, cfg.Rate, len(rec.recs), cfg.SendersN, send)
	end := time.Now()
	<-got0
	cpu1 := takeCPU(ctx, hc, cfg, log)
	wait()

	p := rec.summarize(end.Sub(rec.base.Add(cfg.Warmup)))
	p.ScheduleLagMs = round3(float64(lag.Microseconds()) / 1000)
	p.LoadtestCPUSeconds = round3(cpu1.self - cpu0.self)
	p.CPUSeconds = map[string]float64{}
	for k, v := range cpu1.procs {
		if v0, ok := cpu0.procs[k]; ok {
			p.CPUSeconds[k] = round3(v - v0)
		}
	}
	log.Info("phase done", "name", name, "ok", p.OK, "errors", p.Errors, "cmds_per_sec", p.CmdsPerSec,
		"p50_ms", p.LatencyMs.P50, "p99_ms", p.LatencyMs.P99, "p999_ms", p.LatencyMs.P999, "max_ms", p.LatencyMs.Max,
		"schedule_lag_ms", p.ScheduleLagMs, "loadtest_cpu_s", p.LoadtestCPUSeconds, "cpu_s", p.CPUSeconds)
	return p
}

// cmdSummaryLines is what the cmd scenario prints on stdout: each phase and
// the latency the node adds.
func cmdSummaryLines(r *CmdResult) []string {
	line := func(name string, p *cmdPhase) string {
		return fmt.Sprintf("%-6s ok %d errors %v cmds/s %.1f latency ms p50 %.3f p99 %.3f p999 %.3f max %.3f",
			name, p.OK, p.Errors, p.CmdsPerSec, p.LatencyMs.P50, p.LatencyMs.P99, p.LatencyMs.P999, p.LatencyMs.Max)
	}
	var out []string
	if r.Direct != nil {
		out = append(out, line("direct", r.Direct))
	}
	if r.cmdPhase != nil {
		out = append(out, line("node", r.cmdPhase))
	}
	if a := r.NodeAddedMs; a != nil {
		out = append(out, fmt.Sprintf("node-added latency ms: p50 %.3f p99 %.3f p999 %.3f", a.P50, a.P99, a.P999))
	}
	return out
}
