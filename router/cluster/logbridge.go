package cluster

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// logBridge turns memberlist's *log.Logger lines ("[WARN] memberlist: text") into slog
// records at the matching level. It is also the only place memberlist tells about a
// failed probe: v0.7.0 never fills Node.State (hashicorp/memberlist#266), so the
// "Suspect X has failed" line is how Members() learns that X is suspect.
type logBridge struct {
	log       *slog.Logger
	onSuspect func(node string) // must not block: called on memberlist's goroutines
}

// newStdLogger wraps b for memberlist's Config.Logger.
func newStdLogger(b *logBridge) *log.Logger {
	return log.New(b, "", 0)
}

// Write gets one formatted line per call (log.Logger guarantees that).
func (b *logBridge) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	level, msg := slog.LevelInfo, line
	for _, l := range []struct {
		tag   string
		level slog.Level
	}{{"[DEBUG] ", slog.LevelDebug}, {"[INFO] ", slog.LevelInfo}, {"[WARN] ", slog.LevelWarn}, {"[ERR] ", slog.LevelError}, {"[ERROR] ", slog.LevelError}} {
		if rest, ok := strings.CutPrefix(line, l.tag); ok {
			level, msg = l.level, rest
			break
		}
	}
	msg = strings.TrimPrefix(msg, "memberlist: ")
	if level > slog.LevelDebug && strings.Contains(msg, "use of closed network connection") {
		level = slog.LevelDebug // a send racing this node's own shutdown: nothing failed
	}
	if b.onSuspect != nil {
		if rest, ok := strings.CutPrefix(msg, "Suspect "); ok {
			if name, ok := strings.CutSuffix(rest, " has failed, no acks received"); ok {
				b.onSuspect(name)
			}
		}
	}
	var attrs []any
	if level >= slog.LevelWarn {
		msg, attrs = kindOf(msg)
	}
	b.log.Log(context.Background(), level, msg, attrs...)
	return len(p), nil
}

// kindOf splits a memberlist warning into what kind of thing happened (the
// text before the first ": ") and its particulars: the error's details and
// memberlist's trailing "from=ADDR". The node's log keeps one line per kind
// per interval, with a count, so a flood of garbage packets from many
// addresses is a few counted lines, not one line each.
func kindOf(msg string) (string, []any) {
	var attrs []any
	if i := strings.LastIndex(msg, " from="); i >= 0 {
		attrs = append(attrs, "peer", msg[i+len(" from="):])
		msg = msg[:i]
	}
	depth := 0
	for i := 0; i+1 < len(msg); i++ {
		switch msg[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ':':
			// the first ": " outside parentheses ("Refuting a suspect
			// message (from: n2)" is one kind per sender, and says so)
			if depth == 0 && msg[i+1] == ' ' {
				return msg[:i], append(attrs, "detail", msg[i+2:])
			}
		}
	}
	return msg, attrs
}
