package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// namedResult is one run in a report: "" alone, or "courier" and "node"
// side by side.
type namedResult struct {
	Name string
	Res  *Result
}

func (n namedResult) label(sub string) string {
	switch {
	case n.Name == "":
		return sub
	case sub == "":
		return n.Name
	}
	return n.Name + " " + sub
}

// writeReport writes DIR/report.html: the summary table, then the charts.
func writeReport(dir, title string, runs []namedResult) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "report.html")
	return path, os.WriteFile(path, []byte(reportHTML(title, runs)), 0o644)
}

func reportHTML(title string, runs []namedResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<!doctype html><html><head><meta charset="utf-8"><title>%s</title><style>
body{font-family:sans-serif;margin:24px;color:#111;max-width:1140px}
table{border-collapse:collapse;margin:12px 0 28px;font-size:15px}
td,th{border:1px solid #ccc;padding:6px 12px;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f2f2f2}
h1{font-size:24px} p.note{color:#444;font-size:14px}
svg{display:block;margin:8px 0 28px}
</style></head><body><h1>%s</h1>`, html.EscapeString(title), html.EscapeString(title))
	b.WriteString(summaryTable(runs))
	b.WriteString(lineChart("Open connections", "seconds since start", "connections", timelineSeries(runs, func(s sample) []kv { return []kv{{"", float64(s.Live)}} })))
	b.WriteString(lineChart("Messages received per second", "seconds since start", "msgs/s", msgRateSeries(runs)))
	b.WriteString(latencyBars(runs))
	b.WriteString(histChart(runs))
	b.WriteString(lineChart("Server RSS (MiB)", "seconds since start", "MiB", timelineSeries(runs, func(s sample) []kv { return mapKV(s.RSS, 1<<20) })))
	b.WriteString(lineChart("Server goroutines (courier's /metrics)", "seconds since start", "goroutines", timelineSeries(runs, func(s sample) []kv { return mapKV(s.Goroutines, 1) })))
	b.WriteString(`<p class="note">Latency is receipt time minus the server's meta.ts (whole milliseconds, same machine). RSS is /proc VmRSS of a server started by the runner, else process_resident_memory_bytes from its /metrics.</p></body></html>`)
	return b.String()
}

type kv struct {
	k string
	v float64
}

func mapKV(m map[string]int64, div float64) []kv {
	var out []kv
	for k, v := range m {
		out = append(out, kv{k, float64(v) / div})
	}
	return out
}

// timelineSeries makes one line per run and per key that pick returns.
func timelineSeries(runs []namedResult, pick func(sample) []kv) []series {
	var out []series
	idx := map[string]int{}
	for _, r := range runs {
		for _, s := range r.Res.Timeline {
			for _, p := range pick(s) {
				name := r.label(p.k)
				i, ok := idx[name]
				if !ok {
					i = len(out)
					idx[name] = i
					out = append(out, series{Name: name})
				}
				out[i].Pts = append(out[i].Pts, [2]float64{s.T, p.v})
			}
		}
	}
	slices.SortFunc(out, func(a, b series) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func msgRateSeries(runs []namedResult) []series {
	var out []series
	for _, r := range runs {
		s := series{Name: r.label("")}
		if s.Name == "" {
			s.Name = "received"
		}
		tl := r.Res.Timeline
		for i := 1; i < len(tl); i++ {
			if dt := tl[i].T - tl[i-1].T; dt > 0 {
				s.Pts = append(s.Pts, [2]float64{tl[i].T, float64(tl[i].Delivered-tl[i-1].Delivered) / dt})
			}
		}
		out = append(out, s)
	}
	return out
}

func latencyBars(runs []namedResult) string {
	cats := []string{"p50", "p90", "p99", "p99.9", "max"}
	var names []string
	var vals [][]float64
	for _, r := range runs {
		l := r.Res.LatencyMs
		names = append(names, cmp(r.Name, "latency"))
		vals = append(vals, []float64{l.P50, l.P90, l.P99, l.P999, l.Max})
	}
	return barChart("Latency percentiles (ms)", "ms", cats, names, vals)
}

func histChart(runs []namedResult) string {
	var cats []string
	var names []string
	var vals [][]float64
	for i, r := range runs {
		var row []float64
		var total int64
		for _, bk := range r.Res.LatencyHist {
			total += bk.Count
		}
		for j, bk := range r.Res.LatencyHist {
			if i == 0 {
				cats = append(cats, bucketLabel(bk.UpToMs))
			}
			_ = j
			if total > 0 {
				row = append(row, round3(100*float64(bk.Count)/float64(total)))
			} else {
				row = append(row, 0)
			}
		}
		names = append(names, cmp(r.Name, "share of messages"))
		vals = append(vals, row)
	}
	if len(cats) == 0 {
		return emptyChart("Latency histogram (% of messages per bucket, ms)")
	}
	return barChart("Latency histogram (% of messages per bucket, ms)", "% of messages", cats, names, vals)
}

// bucketLabel keeps the labels short enough to sit side by side: seconds
// from one second on.
func bucketLabel(ms float64) string {
	switch {
	case ms == 0:
		return "more"
	case ms >= 1000:
		return "≤" + fmtNum(ms/1000) + "s"
	}
	return "≤" + fmtNum(ms)
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// summaryTable lists the numbers a reader looks for first, one column per run.
func summaryTable(runs []namedResult) string {
	var b strings.Builder
	b.WriteString("<table><tr><th>metric</th>")
	for _, r := range runs {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(cmp(r.Name, r.Res.Scenario)))
	}
	b.WriteString("</tr>")
	for _, row := range summaryRows(runs) {
		fmt.Fprintf(&b, "<tr><td>%s</td>", html.EscapeString(row[0]))
		for _, v := range row[1:] {
			fmt.Fprintf(&b, "<td>%s</td>", html.EscapeString(v))
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")
	return b.String()
}

// rerenderReport is `loadtest report DIR [NAME=]result.json...`: report.html
// again from saved results (after a change to the report, or to put two
// runs side by side).
func rerenderReport(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: loadtest report OUT_DIR [NAME=]result.json [[NAME=]result.json ...]")
	}
	var runs []namedResult
	for _, a := range args[1:] {
		name, path, ok := strings.Cut(a, "=")
		if !ok {
			name, path = "", a
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		r := &Result{}
		if err := json.Unmarshal(b, r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		runs = append(runs, namedResult{name, r})
	}
	title := "courier loadtest: " + runs[0].Res.Scenario
	if len(runs) == 2 {
		title = "courier vs Node socket.io: " + runs[0].Res.Scenario
	}
	p, err := writeReport(args[0], title, runs)
	fmt.Println(p)
	return err
}
