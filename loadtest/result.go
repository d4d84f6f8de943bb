package main

import (
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"

	"courier/loadtest/stats"
)

// Result is DIR/result.json. The first fields are the contract's (loadtest/README.md);
// the rest say why the numbers are what they are.
type Result struct {
	Connected      int64         `json:"connected"`
	Failed         int64         `json:"failed"`
	Delivered      int64         `json:"delivered"`
	Lost           int64         `json:"lost"`
	Duplicates     int64         `json:"duplicates"`
	MsgsPerSec     float64       `json:"msgs_per_sec"`
	LatencyMs      stats.Summary `json:"latency_ms"` // receipt − meta.ts (server clock, same machine)
	ServerRSSBytes int64         `json:"server_rss_bytes"`

	Scenario string   `json:"scenario"`
	RunID    string   `json:"run_id"`
	Targets  []string `json:"targets"`
	Clients  int      `json:"clients"`
	Rate     float64  `json:"rate"`
	Duration string   `json:"duration"`
	TTL      int      `json:"ttl"`

	ConnectErrors map[string]int `json:"connect_errors,omitempty"`
	ConnectMs     stats.Summary  `json:"connect_ms"` // dial + OPEN + CONNECT answered
	RampSeconds   float64        `json:"ramp_seconds"`
	// RampOpenSeconds is the first CONNECT answered until the last one of the ramp.
	RampOpenSeconds float64        `json:"ramp_open_seconds"`
	Disconnects     int64          `json:"disconnects"` // connections the server ended during the run
	DropReasons     map[string]int `json:"drop_reasons,omitempty"`

	Pushed             int64                 `json:"pushed"`   // requests sent
	Accepted           int64                 `json:"accepted"` // answered 202
	PushStatuses       map[int]int           `json:"push_statuses"`
	PushAttempts       map[string]int        `json:"push_attempts,omitempty"` // reconnect: every request by target and outcome (status or transport error)
	Skipped            int                   `json:"skipped"`                 // no receiver on another node was connected
	PushesPerSec       float64               `json:"pushes_per_sec"`
	PushSeconds        float64               `json:"push_seconds"`
	ScheduleLagMs      float64               `json:"schedule_lag_ms"` // worst lag behind the push schedule
	Misrouted          int64                 `json:"misrouted"`
	Unexpected         int64                 `json:"unexpected"`
	LatencySendMs      stats.Summary         `json:"latency_from_send_ms"` // receipt − our request start (µs clock; includes the API call)
	APIMs              stats.Summary         `json:"api_ms"`               // push request round trip
	LoadtestCPUSeconds float64               `json:"loadtest_cpu_seconds"` // the tester's own CPU over the push window
	SettleSeconds      float64               `json:"settle_seconds"`       // ramp end until the push phase began
	Nodes              map[string]nodeReport `json:"nodes,omitempty"`
	Redis              *RedisResult          `json:"redis,omitempty"`

	// connect: server memory before connecting, once settled, and after the
	// idle hold; per connection = (idle − before) / live connections.
	RSSBeforeBytes  int64   `json:"rss_before_bytes,omitempty"`
	RSSSettledBytes int64   `json:"rss_settled_bytes,omitempty"`
	RSSIdleBytes    int64   `json:"rss_idle_bytes,omitempty"`
	MemPerConnBytes float64 `json:"mem_per_conn_bytes,omitempty"`
	// CPUPer10kIdlePct is the servers' CPU while the connections were held
	// idle (heartbeats only), in percent of one core per 10,000 connections.
	CPUPer10kIdlePct float64 `json:"cpu_per_10k_idle_pct,omitempty"`
	LiveAtEnd        int64   `json:"live_at_end,omitempty"`
	Processes        int     `json:"processes,omitempty"` // child processes holding the clients

	// room
	RoomMembers int64 `json:"room_members,omitempty"`
	JoinErrors  int64 `json:"join_errors,omitempty"`
	// NodeCPUSeconds is the servers' CPU from the first push until every
	// message was delivered and acknowledged (or the grace ran out);
	// NodeCPUPerMsgUs divides it by the messages delivered: the fan-out's
	// cost per delivered message, its acknowledgement included.
	NodeCPUSeconds  float64 `json:"node_cpu_seconds,omitempty"`
	NodeCPUPerMsgUs float64 `json:"node_cpu_per_msg_us,omitempty"`
	// SyscallsPerMsg is the node's engine system calls over the same span,
	// by op, per delivered message (courier_engine_syscalls_total).
	SyscallsPerMsg map[string]float64 `json:"syscalls_per_msg,omitempty"`

	// reconnect: seconds from the kill (or drop) until the last client was
	// back, and until every accepted push had arrived.
	DroppedClients     int64   `json:"dropped_clients,omitempty"`
	Reconnects         int64   `json:"reconnects,omitempty"`
	AllBackSeconds     float64 `json:"all_back_seconds,omitempty"`
	AllReplayedSeconds float64 `json:"all_replayed_seconds,omitempty"`
	// Offline is how long clients were without a connection, each time one
	// was dropped (reconnect), and Deadline how late the pushes arrived.
	Offline  *offlineResult  `json:"offline,omitempty"`
	Deadline *deadlineResult `json:"delivery_deadline,omitempty"`
	// RollSteps is the rolling restart (reconnect --mode roll), one node
	// after the other; times in seconds from the roll's start.
	RollSteps   []rollStep `json:"roll_steps,omitempty"`
	RollSeconds float64    `json:"roll_seconds,omitempty"`
	// UnderRunner says what `loadtest cluster` started and saw (cluster.go).
	Cluster *clusterReport `json:"cluster,omitempty"`

	LatencyHist []histBucket `json:"latency_histogram,omitempty"`
	Timeline    []sample     `json:"timeline,omitempty"`
}

// offlineResult is every time a client was without a connection: from its
// drop until it was answered CONNECT again (µs → ms), or until the end for
// the clients still away.
type offlineResult struct {
	Ms           stats.Summary `json:"ms"`
	MaxSeconds   float64       `json:"max_seconds"`
	LimitSeconds float64       `json:"limit_seconds"`
	OverLimit    int64         `json:"over_limit"` // drops a client was away longer than the limit after
	StillAway    int64         `json:"still_away"` // clients without a connection at the end
}

// deadlineResult is how late accepted pushes arrived: from the start of the
// request that was answered 202, and from meta.ts (the accepting node's
// clock). Late counts those received later than the limit after their
// request; lost ones are in Lost, not here.
type deadlineResult struct {
	LimitSeconds      float64 `json:"limit_seconds"`
	Late              int64   `json:"late"`
	MaxFromSendMs     float64 `json:"max_from_send_ms"`
	MaxFromAcceptedMs float64 `json:"max_from_accepted_ms"`
}

// nodeReport is one node at the end of the run; Delta is the change of its
// counters over the push window (CPU seconds, deliveries, resends...).
type nodeReport struct {
	RSS     int64              `json:"rss_bytes"`
	Samples map[string]float64 `json:"metrics"`
	Delta   map[string]float64 `json:"push_window_delta"`
}

// RedisResult is INFO commandstats over the push window (first push until
// every message arrived, plus a moment for the acknowledgements' writes).
// Redis counts commands run inside Lua scripts as calls too, so "calls" is
// executed commands; script runs (evalsha) are client round trips.
type RedisResult struct {
	WindowSeconds       float64            `json:"window_seconds"`
	Calls               redisCalls         `json:"calls"`
	TotalCalls          int64              `json:"total_calls"`
	CallsPerPush        float64            `json:"calls_per_push"`
	BaselineSeconds     float64            `json:"baseline_seconds"`
	BaselineCalls       redisCalls         `json:"baseline_calls"` // idle cluster, same connections, before pushing
	BaselineCallsPerSec float64            `json:"baseline_calls_per_sec"`
	NetCallsPerPush     float64            `json:"net_calls_per_push"`   // calls per push minus the idle rate over the window
	PerPush             map[string]float64 `json:"per_push_by_command"`  // net of baseline
	ScriptRunsPerPush   float64            `json:"script_runs_per_push"` // evalsha+eval: client round trips that ran Lua
	CPUPercent          float64            `json:"redis_cpu_percent"`    // of one core, over the window
	CPUUsecPerPush      float64            `json:"redis_cpu_usec_per_push"`
}

func newRedisResult(baseline, window redisCalls, baseSecs, winSecs float64, accepted int64) *RedisResult {
	cpuWin, cpuBase := window[cpuKey], baseline[cpuKey]
	delete(window, cpuKey)
	delete(baseline, cpuKey)
	r := &RedisResult{WindowSeconds: round3(winSecs), Calls: window, TotalCalls: window.total(),
		BaselineSeconds: round3(baseSecs), BaselineCalls: baseline, PerPush: map[string]float64{}}
	if baseSecs > 0 {
		r.BaselineCallsPerSec = round3(float64(baseline.total()) / baseSecs)
	}
	if winSecs > 0 {
		r.CPUPercent = round3(float64(cpuWin) / 1e4 / winSecs)
	}
	if accepted == 0 {
		return r
	}
	r.ScriptRunsPerPush = round3(float64(window["evalsha"]+window["eval"]) / float64(accepted))
	idleCPU := 0.0
	if baseSecs > 0 {
		idleCPU = float64(cpuBase) / baseSecs * winSecs
	}
	r.CPUUsecPerPush = round3((float64(cpuWin) - idleCPU) / float64(accepted))
	r.CallsPerPush = round3(float64(r.TotalCalls) / float64(accepted))
	r.NetCallsPerPush = round3((float64(r.TotalCalls) - r.BaselineCallsPerSec*winSecs) / float64(accepted))
	every := maps.Clone(window)
	maps.Copy(every, baseline)
	for k := range every {
		idle := 0.0
		if baseSecs > 0 {
			idle = float64(baseline[k]) / baseSecs * winSecs
		}
		r.PerPush[k] = round3((float64(window[k]) - idle) / float64(accepted))
	}
	return r
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// writeResult writes r (a *Result or *CmdResult) as DIR/result.json.
func writeResult(dir string, r any) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "result.json")
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}
