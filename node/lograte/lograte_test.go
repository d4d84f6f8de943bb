package lograte

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"courier/router/testkit"
)

func TestOneWarningPerKindPerIntervalWithTheCountHeldBack(t *testing.T) {
	var buf bytes.Buffer
	clk := testkit.NewClock()
	log := slog.New(New(slog.NewTextHandler(&buf, nil), time.Second, clk.Now))
	sub := log.With("component", "session") // derived loggers share the counts
	for i := 0; i < 1000; i++ {
		sub.Warn("replay read failed", "session", i)
		log.Warn("session not registered")
		log.Info("api") // below Warn: every one passes
	}
	clk.Advance(time.Second)
	sub.Warn("replay read failed", "session", "last")
	log.Error("replay read failed") // another level is another kind

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var replay, registered, info []string
	for _, l := range lines {
		switch {
		case strings.Contains(l, "replay read failed"):
			replay = append(replay, l)
		case strings.Contains(l, "session not registered"):
			registered = append(registered, l)
		case strings.Contains(l, "msg=api"):
			info = append(info, l)
		}
	}
	if len(info) != 1000 {
		t.Fatalf("%d info lines, want all 1000", len(info))
	}
	if len(registered) != 1 || strings.Contains(registered[0], SuppressedKey) {
		t.Fatalf("registered lines %q, want one with no count yet", registered)
	}
	if len(replay) != 3 {
		t.Fatalf("replay lines %q, want the first, the next after the interval, and the error", replay)
	}
	if !strings.Contains(replay[1], "suppressed=999") || !strings.Contains(replay[1], "session=last") || !strings.Contains(replay[1], "component=session") {
		t.Fatalf("second replay line %q, want the 999 held back counted", replay[1])
	}
	if !strings.Contains(replay[2], "level=ERROR") || strings.Contains(replay[2], SuppressedKey) {
		t.Fatalf("error line %q", replay[2])
	}
}
