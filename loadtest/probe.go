package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// nodeMetrics are the lines of a node's /metrics the result reports: RSS,
// connections, goroutines, and the counters that explain lost or late
// messages (disconnects by reason, resends).
type nodeMetrics struct {
	RSS     int64              `json:"rss_bytes"`
	Samples map[string]float64 `json:"samples"`
}

var reportedMetrics = []string{"process_resident_memory_bytes", "courier_connections", "go_goroutines",
	"courier_disconnects_total", "courier_retries_total", "courier_deliveries_total", "courier_acks_total",
	"courier_refused_total", "process_cpu_seconds_total", "courier_engine_syscalls_total"}

// scrapeMetrics reads a node's /metrics.
func scrapeMetrics(ctx context.Context, hc *http.Client, target *url.URL) (nodeMetrics, error) {
	m := nodeMetrics{Samples: map[string]float64{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.JoinPath("/metrics").String(), nil)
	if err != nil {
		return m, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		base, _, _ := strings.Cut(name, "{")
		if !slices.Contains(reportedMetrics, base) {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		m.Samples[name] = f
		if base == "process_resident_memory_bytes" {
			m.RSS = int64(f)
		}
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("%s/metrics has no process_resident_memory_bytes", target)
	}
	return m, nil
}

// redisCalls is INFO commandstats: calls per command. Redis counts a
// command a Lua script runs as a call of that command too, so the sum is
// commands executed, not round trips; evalsha/eval count the script runs.
type redisCalls map[string]int64

// cpuKey is the pseudo command under which redisCalls keeps Redis's CPU time
// (used_cpu_user + used_cpu_sys of INFO cpu) in microseconds: it says how
// much of the machine Redis takes per push, which call counts do not.
const cpuKey = "~cpu_usec"

// readCommandStats runs INFO commandstats cpu over a bare RESP connection: one
// command does not justify a client library, and a fresh connection per
// snapshot keeps the probe out of the nodes' connection pools.
func readCommandStats(ctx context.Context, addr string) (redisCalls, error) {
	d := net.Dialer{Timeout: 3 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "*3\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n$3\r\ncpu\r\n"); err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	head, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(head, "$") {
		return nil, fmt.Errorf("redis INFO: %q", strings.TrimSpace(head))
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("redis INFO: bad length %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, err
	}
	return parseCommandStats(string(body)), nil
}

// parseCommandStats reads lines like
// cmdstat_evalsha:calls=12,usec=340,usec_per_call=28.33,rejected_calls=0,failed_calls=0
func parseCommandStats(s string) redisCalls {
	calls := redisCalls{}
	for line := range strings.Lines(s) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if name == "used_cpu_user" || name == "used_cpu_sys" {
			secs, _ := strconv.ParseFloat(rest, 64)
			calls[cpuKey] += int64(secs * 1e6)
			continue
		}
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				calls[name] = n
			}
		}
	}
	return calls
}

// sub returns c − before, without our own INFO probes.
func (c redisCalls) sub(before redisCalls) redisCalls {
	d := redisCalls{}
	for k, v := range c {
		if k == "info" {
			continue
		}
		if n := v - before[k]; n != 0 {
			d[k] = n
		}
	}
	return d
}

func (c redisCalls) total() int64 {
	var t int64
	for k, v := range c {
		if k != cpuKey {
			t += v
		}
	}
	return t
}
