package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The node logs of a `loadtest cluster` run, summed up: WARN and ERROR
// lines, and what gossip said about the members (memberlist's "Suspect X
// has failed", "Refuting a suspect message", "Marking X as failed", the
// node's "member suspect|dead|left" and its purges of a dead node's
// sessions). slog text or JSON lines; a line without a level is some
// library's own logger (go-redis: "redis: 2026/.. pool.go:..") or a stack
// trace.

// logSummary counts the lines of one log, or of all of them.
type logSummary struct {
	Lines     int `json:"lines"`
	Warn      int `json:"warn"`
	Error     int `json:"error"`
	Suspect   int `json:"suspect"`    // lines naming a suspect member, other than refutations
	Refuting  int `json:"refuting"`   // a node refuting a suspect (or dead) message about itself
	Dead      int `json:"dead"`       // "member dead", "Marking X as failed"
	Left      int `json:"left"`       // "member left": a node that left on its own (drain)
	Purge     int `json:"purge"`      // lines about purging a dead node's sessions (done, failed, not claimed)
	NotPurged int `json:"not_purged"` // "a node declared dead is alive again; not purged"
	Panics    int `json:"panics"`     // "panic:" or "fatal error:" at the start of a line
	Unleveled int `json:"unleveled"`  // lines with no level: a library's own logger, a trace
	Restarts  int `json:"restarts"`   // the runner's "---- started again" markers
}

func (s *logSummary) add(o logSummary) {
	s.Lines += o.Lines
	s.Warn += o.Warn
	s.Error += o.Error
	s.Suspect += o.Suspect
	s.Refuting += o.Refuting
	s.Dead += o.Dead
	s.Left += o.Left
	s.Purge += o.Purge
	s.NotPurged += o.NotPurged
	s.Panics += o.Panics
	s.Unleveled += o.Unleveled
	s.Restarts += o.Restarts
}

// logReport is every node's log and their total; Top is the most frequent
// WARN, ERROR and unleveled messages over all of them, Notable the first
// lines about suspects, deaths, purges and panics (file: line).
type logReport struct {
	Total   logSummary            `json:"total"`
	Nodes   map[string]logSummary `json:"nodes"`
	Top     []msgCount            `json:"top,omitempty"`
	Notable []string              `json:"notable,omitempty"`
}

type msgCount struct {
	Msg   string `json:"msg"`
	Count int    `json:"count"`
}

// logLine is what one line says.
type logLine struct {
	level string // DEBUG, INFO, WARN, ERROR; "" = none
	msg   string
}

// parseLogLine reads a slog text (key=value) or JSON line.
func parseLogLine(line string) logLine {
	if strings.HasPrefix(line, "{") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			l, _ := m["level"].(string)
			msg, _ := m["msg"].(string)
			return logLine{level: strings.ToUpper(l), msg: msg}
		}
	}
	var l logLine
	if i := strings.Index(line, "level="); i == 0 || (i > 0 && line[i-1] == ' ') {
		v := line[i+len("level="):]
		if j := strings.IndexByte(v, ' '); j >= 0 {
			v = v[:j]
		}
		l.level = strings.ToUpper(v)
	}
	if i := strings.Index(line, " msg="); i >= 0 {
		v := line[i+len(" msg="):]
		if strings.HasPrefix(v, `"`) {
			if q, err := strconv.QuotedPrefix(v); err == nil {
				v, _ = strconv.Unquote(q)
			}
		} else if j := strings.IndexByte(v, ' '); j >= 0 {
			v = v[:j]
		}
		l.msg = v
	}
	return l
}

// stdlogStamp is the date and time the standard library's logger puts in
// front of a line ("2026/12/04 15:46:28 "), which would make every line a
// message of its own.
var stdlogStamp = regexp.MustCompile(`\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? `)

// classify counts line into s; it returns the key under which the line
// counts as a frequent message ("" = not one), and whether it is notable.
func classify(line string, s *logSummary) (key string, notable bool) {
	s.Lines++
	if strings.HasPrefix(line, "---- ") && strings.Contains(line, "started again") {
		s.Restarts++
		return "", false
	}
	if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") {
		s.Panics++
		s.Unleveled++
		return "", true
	}
	l := parseLogLine(line)
	low := strings.ToLower(line)
	switch {
	case strings.Contains(low, "refuting"):
		s.Refuting++
		notable = true
	case strings.Contains(low, "suspect"):
		s.Suspect++
		notable = true
	}
	if l.msg == "member dead" || (strings.Contains(low, "marking ") && strings.Contains(low, " as failed")) {
		s.Dead++
		notable = true
	}
	if l.msg == "member left" {
		s.Left++
	}
	switch {
	case strings.Contains(low, "not purged"):
		s.NotPurged++
		notable = true
	case strings.Contains(low, "purg"):
		s.Purge++
		notable = true
	}
	switch l.level {
	case "WARN", "WARNING":
		s.Warn++
		return "WARN " + l.msg, notable
	case "ERROR", "ERR":
		s.Error++
		return "ERROR " + l.msg, notable
	case "":
		s.Unleveled++
		k := stdlogStamp.ReplaceAllString(line, "")
		if len(k) > 120 {
			k = k[:120]
		}
		return "(no level) " + k, notable
	}
	return "", notable
}

// summarizeLog reads r (the log of node name) into s, counting frequent
// messages in top and keeping up to maxNotable notable lines.
func summarizeLog(r io.Reader, name string, s *logSummary, top map[string]int, notable *[]string, maxNotable int) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		key, n := classify(line, s)
		if key != "" {
			top[key]++
		}
		if n && len(*notable) < maxNotable {
			if len(line) > 300 {
				line = line[:300] + "…"
			}
			*notable = append(*notable, name+": "+line)
		}
	}
	return sc.Err()
}

// summarizeLogs reads each file from byte from[file] (default 0) to
// to[file] (default: its end); a node is named by its file (n3.log: n3).
func summarizeLogs(files []string, from, to map[string]int64) (*logReport, error) {
	rep := &logReport{Nodes: map[string]logSummary{}}
	top := map[string]int{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".log")
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		var r io.Reader = fh
		if off := from[f]; off > 0 {
			if _, err := fh.Seek(off, io.SeekStart); err != nil {
				fh.Close()
				return nil, err
			}
		}
		if end, ok := to[f]; ok {
			r = io.LimitReader(fh, max(0, end-from[f]))
		}
		var s logSummary
		err = summarizeLog(r, name, &s, top, &rep.Notable, 20)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		rep.Nodes[name] = s
		rep.Total.add(s)
	}
	for k, v := range top {
		rep.Top = append(rep.Top, msgCount{k, v})
	}
	slices.SortFunc(rep.Top, func(a, b msgCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Msg, b.Msg)
	})
	if len(rep.Top) > 10 {
		rep.Top = rep.Top[:10]
	}
	return rep, nil
}

// logSizes is each file's size now: where a later summary starts or ends.
func logSizes(files []string) map[string]int64 {
	out := map[string]int64{}
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			out[f] = st.Size()
		}
	}
	return out
}

// line is one summary's counts on one line.
func (s logSummary) line() string {
	return fmt.Sprintf("WARN %d, ERROR %d, no level %d, panics %d; suspect %d, refuting %d, dead %d, left %d, purge %d, not purged %d, restarts %d",
		s.Warn, s.Error, s.Unleveled, s.Panics, s.Suspect, s.Refuting, s.Dead, s.Left, s.Purge, s.NotPurged, s.Restarts)
}

// lines is the report for the terminal; detail adds each node that logged
// anything of note, the most frequent messages and the notable lines.
func (r *logReport) lines(title string, detail bool) []string {
	out := []string{fmt.Sprintf("%s: %d lines, %s", title, r.Total.Lines, r.Total.line())}
	if !detail {
		return out
	}
	names := make([]string, 0, len(r.Nodes))
	for n := range r.Nodes {
		names = append(names, n)
	}
	slices.SortFunc(names, compareNodeNames)
	for _, n := range names {
		s := r.Nodes[n]
		if s.Warn+s.Error+s.Unleveled+s.Suspect+s.Refuting+s.Dead+s.Purge+s.NotPurged+s.Panics > 0 {
			out = append(out, fmt.Sprintf("  %-6s %s", n, s.line()))
		}
	}
	for _, m := range r.Top {
		out = append(out, fmt.Sprintf("  %6d × %s", m.Count, m.Msg))
	}
	for _, l := range r.Notable {
		out = append(out, "  | "+l)
	}
	return out
}

// compareNodeNames orders n2 before n10.
func compareNodeNames(a, b string) int {
	na, ea := strconv.Atoi(strings.TrimLeft(a, "n"))
	nb, eb := strconv.Atoi(strings.TrimLeft(b, "n"))
	if ea == nil && eb == nil && na != nb {
		return na - nb
	}
	return strings.Compare(a, b)
}
