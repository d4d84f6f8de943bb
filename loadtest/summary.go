package main

import (
	"fmt"
	"math"
)

// metric is one line of the final table: the same lines in the terminal,
// in report.html and in compare's ratios.
type metric struct {
	name string
	get  func(*Result) float64
	// lowerBetter is true for costs (memory, latency, lost): the ratio
	// courier/node then reads "<1 is better for courier".
	lowerBetter bool
	// zeroCounts says when a zero is a result (an audit: nothing lost), not
	// "does not apply"; nil = never.
	zeroCounts func(*Result) bool
}

func pushed(r *Result) bool      { return r.Accepted > 0 }
func wasAway(r *Result) bool     { return r.Offline != nil }
func hadDeadline(r *Result) bool { return r.Deadline != nil && r.Accepted > 0 }

func offline(r *Result) offlineResult {
	if r.Offline == nil {
		return offlineResult{}
	}
	return *r.Offline
}

func deadline(r *Result) deadlineResult {
	if r.Deadline == nil {
		return deadlineResult{}
	}
	return *r.Deadline
}

var metrics = []metric{
	{"connected", func(r *Result) float64 { return float64(r.Connected) }, false, nil},
	{"failed", func(r *Result) float64 { return float64(r.Failed) }, true, nil},
	{"server drops", func(r *Result) float64 { return float64(r.Disconnects) }, true, nil},
	{"ramp s", func(r *Result) float64 { return r.RampSeconds }, true, nil},
	{"first to last connect s", func(r *Result) float64 { return r.RampOpenSeconds }, true, nil},
	{"connect p50 ms", func(r *Result) float64 { return r.ConnectMs.P50 }, true, nil},
	{"connect p99 ms", func(r *Result) float64 { return r.ConnectMs.P99 }, true, nil},
	{"connect p99.9 ms", func(r *Result) float64 { return r.ConnectMs.P999 }, true, nil},
	{"server RSS before MiB", func(r *Result) float64 { return float64(r.RSSBeforeBytes) / (1 << 20) }, true, nil},
	{"server RSS idle MiB", func(r *Result) float64 { return float64(r.RSSIdleBytes) / (1 << 20) }, true, nil},
	{"memory per connection KiB", func(r *Result) float64 { return r.MemPerConnBytes / 1024 }, true, nil},
	{"CPU % per 10k idle", func(r *Result) float64 { return r.CPUPer10kIdlePct }, true, nil},
	{"room members", func(r *Result) float64 { return float64(r.RoomMembers) }, false, nil},
	{"pushes accepted", func(r *Result) float64 { return float64(r.Accepted) }, false, nil},
	{"delivered", func(r *Result) float64 { return float64(r.Delivered) }, false, nil},
	{"lost", func(r *Result) float64 { return float64(r.Lost) }, true, pushed},
	{"duplicates", func(r *Result) float64 { return float64(r.Duplicates) }, true, pushed},
	{"msgs/s", func(r *Result) float64 { return r.MsgsPerSec }, false, nil},
	{"node CPU µs per delivered msg", func(r *Result) float64 { return r.NodeCPUPerMsgUs }, true, nil},
	{"engine syscalls per delivered msg", func(r *Result) float64 { return sumValues(r.SyscallsPerMsg) }, true, nil},
	{"latency p50 ms", func(r *Result) float64 { return r.LatencyMs.P50 }, true, nil},
	{"latency p99 ms", func(r *Result) float64 { return r.LatencyMs.P99 }, true, nil},
	{"latency p99.9 ms", func(r *Result) float64 { return r.LatencyMs.P999 }, true, nil},
	{"dropped clients", func(r *Result) float64 { return float64(r.DroppedClients) }, false, nil},
	{"all back s", func(r *Result) float64 { return r.AllBackSeconds }, true, nil},
	{"all replayed s", func(r *Result) float64 { return r.AllReplayedSeconds }, true, nil},
	{"max delivery ms", func(r *Result) float64 { return deadline(r).MaxFromSendMs }, true, nil},
	{"delivered late", func(r *Result) float64 { return float64(deadline(r).Late) }, true, hadDeadline},
	{"longest offline s", func(r *Result) float64 { return offline(r).MaxSeconds }, true, wasAway},
	{"offline p99 ms", func(r *Result) float64 { return offline(r).Ms.P99 }, true, nil},
	{"offline > limit", func(r *Result) float64 { return float64(offline(r).OverLimit) }, true, wasAway},
	{"still away", func(r *Result) float64 { return float64(offline(r).StillAway) }, true, wasAway},
	{"roll s", func(r *Result) float64 { return r.RollSeconds }, true, nil},
	{"server RSS end MiB", func(r *Result) float64 { return float64(r.ServerRSSBytes) / (1 << 20) }, true, nil},
}

// summaryRows is the table: metric name, then one value per run; a metric
// that is zero in every run is left out (it does not apply).
func summaryRows(runs []namedResult) [][]string {
	var rows [][]string
	for _, m := range metrics {
		row := []string{m.name}
		any := false
		for _, r := range runs {
			v := m.get(r.Res)
			any = any || v != 0
			row = append(row, fmtVal(v))
		}
		// An audit's zero is a result, not "does not apply".
		if any || (m.zeroCounts != nil && m.zeroCounts(runs[0].Res)) {
			rows = append(rows, row)
		}
	}
	return rows
}

// fmtVal writes whole numbers whole and others with three significant
// digits, never in e-notation (a table of 5.75e+03 is not read at a glance).
func fmtVal(v float64) string {
	switch {
	case v == float64(int64(v)) || math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// summaryLines is the final table for the terminal.
func summaryLines(name string, res *Result) []string {
	var out []string
	for _, row := range summaryRows([]namedResult{{name, res}}) {
		out = append(out, fmt.Sprintf("%-28s %12s", row[0], row[1]))
	}
	return out
}

// compareLines is courier and node side by side with courier/node.
func compareLines(a, b *Result) []string {
	out := []string{fmt.Sprintf("%-28s %12s %12s %14s", "metric", "courier", "node", "courier/node")}
	for _, m := range metrics {
		va, vb := m.get(a), m.get(b)
		if va == 0 && vb == 0 && (m.zeroCounts == nil || !m.zeroCounts(a)) {
			continue
		}
		r := "-"
		if vb != 0 {
			r = fmt.Sprintf("%.3g", va/vb)
			if va/vb >= 1000 {
				r = fmt.Sprintf("%.0f", va/vb)
			}
		}
		out = append(out, fmt.Sprintf("%-28s %12s %12s %14s", m.name, fmtVal(va), fmtVal(vb), r))
	}
	return out
}

func sumValues(m map[string]float64) float64 {
	t := 0.0
	for _, v := range m {
		t += v
	}
	return t
}
