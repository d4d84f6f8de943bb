package redistest

import (
	"strconv"
	"strings"
	"testing"
)

// CommandCalls reads INFO commandstats of the server at addr: calls per
// command, commands a Lua script runs included (Redis counts each as a call
// of its own), over a fresh connection of its own.
func CommandCalls(t testing.TB, addr string) map[string]int64 {
	t.Helper()
	c, err := dial(addr)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	defer c.close()
	info, err := c.do("INFO", "commandstats")
	if err != nil {
		t.Fatalf("redistest: INFO commandstats: %v", err)
	}
	calls := map[string]int64{}
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				calls[name], _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return calls
}
