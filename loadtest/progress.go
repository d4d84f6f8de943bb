package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

// progress shows a run as it goes: bars redrawn in place on a terminal,
// a log line every few seconds otherwise (CI logs and files must not fill
// with carriage returns).
type progress struct {
	mode    string // bars, log, off
	w       io.Writer
	log     *slog.Logger
	total   int
	lastLog time.Time
	drawn   bool
}

func newProgress(mode string, total int, log *slog.Logger) *progress {
	if mode == "auto" {
		mode = "log"
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			mode = "bars"
		}
	}
	return &progress{mode: mode, w: os.Stderr, log: log, total: total}
}

func (p *progress) show(c fleetCounts, msgsPerSec float64, errs int64) {
	switch p.mode {
	case "bars":
		// Clear the previous three lines and draw them again.
		if p.drawn {
			fmt.Fprint(p.w, "\x1b[3A")
		}
		p.drawn = true
		fmt.Fprint(p.w, progressLines(c, p.total, msgsPerSec, errs))
	case "log":
		if time.Since(p.lastLog) < 5*time.Second {
			return
		}
		p.lastLog = time.Now()
		p.log.Info("progress", "live", c.Live, "connected", c.Connected, "failed", c.Failed,
			"drops", c.Disconnects, "msgs_per_sec", int64(msgsPerSec), "delivered", c.Delivered)
	}
}

func (p *progress) done() {
	if p.mode == "bars" && p.drawn {
		fmt.Fprintln(p.w)
	}
}

// progressLines renders the three bars: connections against the target
// count, msgs/s on a log scale (its range is unknown beforehand), errors.
func progressLines(c fleetCounts, total int, msgsPerSec float64, errs int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\x1b[2Kconnections %s %d/%d\n", bar(float64(c.Live), float64(total), 30), c.Live, total)
	fmt.Fprintf(&b, "\x1b[2Kmsgs/s      %s %.0f (delivered %d)\n", bar(logScale(msgsPerSec), logScale(1e6), 30), msgsPerSec, c.Delivered)
	fmt.Fprintf(&b, "\x1b[2Kerrors      %s %d (failed %d, drops %d)\n", bar(float64(errs), float64(max(total/100, 1)), 30), errs, c.Failed, c.Disconnects)
	return b.String()
}

func bar(v, full float64, width int) string {
	n := 0
	if full > 0 {
		n = int(v / full * float64(width))
	}
	n = min(max(n, 0), width)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// logScale maps 1..1e6 msgs/s onto 0..6 so that 100/s and 100,000/s both
// show as a bar.
func logScale(v float64) float64 {
	n := 0.0
	for v >= 10 {
		v /= 10
		n++
	}
	return n + v/10
}
