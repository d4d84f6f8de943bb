package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// `loadtest cluster SCENARIO [runner flags] [scenario flags]` starts
// Redis and --nodes courier nodes (gossip with --cluster-secret, peer
// links, every other node as a seed, each with its own log) on free
// loopback ports, runs the scenario against all of them, and stops
// everything by PID. For reconnect --mode kill it SIGKILLs n1 and starts it
// again after --down; for --mode roll it restarts every node in turn
// (roll.go). The result gets what the runner saw: the node logs summed up
// (logsum.go), and every member another node listed as not alive.

type clusterFlags struct {
	courierBin      string
	out             string
	nodes           int
	secret          string
	logLevel        string
	shutdownTimeout time.Duration
	nodeFlags       []string
	poll            time.Duration // /v1/cluster of every node; 0 = off
	redisNice       int           // redis-server's nice value (setpriority); 0 = left alone
	dryRun          bool          // print what would run and stop
}

// splitClusterFlags takes the runner's own flags out of args.
func splitClusterFlags(args []string) (clusterFlags, []string, error) {
	cf := clusterFlags{out: "loadtest-cluster", nodes: 3, secret: "lt-cluster-secret", logLevel: "info",
		shutdownTimeout: 30 * time.Second, poll: 2 * time.Second, redisNice: -10}
	own, rest, err := splitOwnFlags(args, []string{"courier-bin", "out", "nodes", "cluster-secret", "node-log-level",
		"node-shutdown-timeout", "node-flag", "cluster-poll", "redis-nice"}, []string{"dry-run"})
	if err != nil {
		return cf, nil, err
	}
	for _, f := range own {
		name, val := f.name, f.val
		var err error
		switch name {
		case "dry-run":
			cf.dryRun = true
		case "courier-bin":
			cf.courierBin = val
		case "out":
			cf.out = val
		case "nodes":
			cf.nodes, err = strconv.Atoi(val)
			if err == nil && (cf.nodes < 1 || cf.nodes > 32) {
				err = errors.New("want 1..32")
			}
		case "cluster-secret":
			cf.secret = val
		case "node-log-level":
			cf.logLevel = val
		case "node-shutdown-timeout":
			cf.shutdownTimeout, err = time.ParseDuration(val)
		case "node-flag":
			cf.nodeFlags = append(cf.nodeFlags, val)
		case "cluster-poll":
			cf.poll, err = time.ParseDuration(val)
		case "redis-nice":
			cf.redisNice, err = strconv.Atoi(val)
		}
		if err != nil {
			return cf, nil, fmt.Errorf("--%s %q: %v", name, val, err)
		}
	}
	return cf, rest, nil
}

// clusterReport is what the runner adds to result.json.
type clusterReport struct {
	Nodes     int      `json:"nodes"`
	NodeFlags []string `json:"node_flags"` // every node's flags beyond its ports, store and seeds
	Warnings  []string `json:"warnings,omitempty"`
	// Logs sums the node logs from the moment every node was ready until
	// the end of the measurement; AtStart what they wrote before (while
	// they found each other), AtStop while the runner stopped them.
	Logs    *logReport  `json:"node_logs,omitempty"`
	AtStart *logReport  `json:"node_logs_at_start,omitempty"`
	AtStop  *logReport  `json:"node_logs_at_stop,omitempty"`
	States  []stateSeen `json:"not_alive_seen"` // from polling every node's /v1/cluster
	// PollErrors counts /v1/cluster polls that got no answer (a node down).
	PollErrors int `json:"poll_errors"`
	// SessionsLeft is what the registry still counted per node once every
	// client had closed (waited for up to 15 s: SessionsGoneSeconds); a
	// node listed here kept sessions of clients that were gone.
	SessionsLeft        map[string]int `json:"sessions_left"`
	SessionsGoneSeconds float64        `json:"sessions_gone_seconds"`
	// Counters are the nodes' refused connections and disconnects by
	// reason at the end of the run, summed over the nodes (a restarted
	// node counts from its restart).
	Counters map[string]float64 `json:"node_counters,omitempty"`
}

const clusterUsage = "usage: loadtest cluster connect|push|room|reconnect --courier-bin PATH [--nodes N] [--out DIR] " +
	"[--cluster-secret S] [--node-log-level info] [--node-shutdown-timeout 30s] [--node-flag=--flag=value ...] " +
	"[--cluster-poll 2s] [--dry-run] [scenario flags]"

func runCluster(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New(clusterUsage)
	}
	sc := args[0]
	switch sc {
	case "connect", "push", "room", "reconnect":
	default:
		return fmt.Errorf("cluster runs connect, push, room or reconnect, not %q", sc)
	}
	cf, rest, err := splitClusterFlags(args[1:])
	if err != nil {
		return err
	}
	if cf.courierBin == "" && !cf.dryRun {
		return errors.New("--courier-bin is required (loadtest/run-scale.sh builds one)")
	}
	// The scenario's flags, checked before anything starts.
	scArgs := append([]string{sc}, rest...)
	scArgs = append(scArgs, "--api-key", cmpKey, "--jwt-secret", cmpSecret, "--out", cf.out)
	if sc == "reconnect" {
		// The runner kills, restarts and rolls the nodes itself; the flags
		// only satisfy the check and name what happens.
		scArgs = append(scArgs, "--kill-cmd", "runner: SIGKILL courier-n1", "--restart-cmd", "runner: start courier-n1 again")
	}
	check, err := parseConfig(append(slices.Clone(scArgs), "--target", "http://127.0.0.1:1"))
	if err != nil {
		return err
	}
	if sc == "reconnect" && check.Mode != "drop" && cf.nodes < 2 {
		return fmt.Errorf("reconnect --mode %s needs --nodes 2 or more: the clients need somewhere to go", check.Mode)
	}
	ns := nodeSetup{logLevel: cf.logLevel, shutdownTimeout: cf.shutdownTimeout, secret: cf.secret, extra: cf.nodeFlags, redisNice: cf.redisNice}
	warnings := fdWarnings(check, cf.nodes, openFilesLimit())
	if cf.dryRun {
		procs := 1
		if check.Clients > check.PerProcess {
			procs = (check.Clients + check.PerProcess - 1) / check.PerProcess
		}
		fmt.Printf("redis-server and %d courier nodes, each with: %s\n", cf.nodes, strings.Join(ns.args(), " "))
		fmt.Printf("loadtest %s (in %d process(es), %d source address(es) each; run ends within %s)\n",
			strings.Join(scArgs, " "), procs, max(check.SourceIPs, 1), check.deadline().Round(time.Second))
		for _, w := range warnings {
			fmt.Println("WARNING: " + w)
		}
		return nil
	}
	if err := os.MkdirAll(cf.out, 0o755); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rep := &clusterReport{Nodes: cf.nodes, States: []stateSeen{}, Warnings: warnings}
	for _, w := range rep.Warnings {
		log.Warn(w)
	}
	rep.NodeFlags = ns.args()
	log.Info("starting redis and courier nodes", "nodes", cf.nodes, "flags", strings.Join(rep.NodeFlags, " "))
	st, err := startCourier(ctx, log, cf.courierBin, cf.out, cf.nodes, ns)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			st.stop()
		}
	}()
	var logs []string
	for _, p := range st.procs {
		if p.name != "redis" {
			logs = append(logs, p.log)
		}
	}
	ready := logSizes(logs)

	cfg, err := parseConfig(append(scArgs, "--target", strings.Join(st.targets, ",")))
	if err != nil {
		return err
	}
	cfg.WatchPIDs = append(cfg.WatchPIDs, st.pids...)
	rctx, cancel := context.WithTimeout(ctx, cfg.deadline())
	defer cancel()
	watch := newClusterWatch()
	wctx, stopWatch := context.WithCancel(rctx)
	var wwg sync.WaitGroup
	if cf.poll > 0 {
		wwg.Go(func() { watch.run(wctx, st.targets, cf.poll) })
	}
	log.Info("running", "scenario", sc, "targets", st.targets, "pids", cfg.WatchPIDs.String())
	runID := fmt.Sprintf("c%d", os.Getpid())
	h := hooks{}
	switch {
	case sc == "reconnect" && cfg.Mode == "kill":
		h = st.killHooks()
	case sc == "reconnect" && cfg.Mode == "roll":
		h = st.rollHooks(log, cf.shutdownTimeout)
	}
	res, _, err := runScenario(rctx, cfg, log, runID, h) // sc was checked on the way in
	stopWatch()
	wwg.Wait()
	rep.Counters = nodeCounters(ctx, cfg.Targets)
	// Every client closed: the registry should forget them all soon.
	t0 := time.Now()
	rep.SessionsLeft = sessionsLeft(ctx, st.targets, 15*time.Second)
	rep.SessionsGoneSeconds = round3(time.Since(t0).Seconds())
	end := logSizes(logs)
	st.stop()
	stopped = true
	var lerr error
	if rep.Logs, lerr = summarizeLogs(logs, ready, end); lerr != nil {
		log.Error("node logs not read", "err", lerr)
	}
	rep.AtStart, _ = summarizeLogs(logs, nil, ready)
	rep.AtStop, _ = summarizeLogs(logs, end, nil)
	rep.States, rep.PollErrors = watch.list()
	if res == nil {
		fmt.Println(strings.Join(rep.lines(), "\n"))
		return err
	}
	res.Cluster = rep
	if _, werr := writeResult(cf.out, res); werr != nil {
		return errors.Join(err, werr)
	}
	writeReport(cf.out, fmt.Sprintf("courier cluster (%d nodes): %s", cf.nodes, sc), []namedResult{{"courier", res}})
	lines := append(summaryLines("", res), rep.lines()...)
	text := strings.Join(lines, "\n") + "\n"
	fmt.Print(text)
	if werr := os.WriteFile(filepath.Join(cf.out, "summary.txt"), []byte(text), 0o644); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// lines is the runner's part of the final table.
func (r *clusterReport) lines() []string {
	var out []string
	for _, w := range r.Warnings {
		out = append(out, "WARNING: "+w)
	}
	if r.AtStart != nil {
		out = append(out, r.AtStart.lines("node logs until all were ready", false)...)
	}
	if r.Logs != nil {
		out = append(out, r.Logs.lines("node logs during the run", true)...)
	}
	if r.AtStop != nil {
		out = append(out, r.AtStop.lines("node logs while stopping", false)...)
	}
	var counters []string
	for k, v := range r.Counters {
		counters = append(counters, fmt.Sprintf("%s %.0f", k, v))
	}
	slices.Sort(counters)
	if len(counters) > 0 {
		out = append(out, "node counters: "+strings.Join(counters, ", "))
	}
	if len(r.SessionsLeft) == 0 {
		out = append(out, fmt.Sprintf("registry: no session left %.1f s after the clients closed", r.SessionsGoneSeconds))
	} else {
		out = append(out, fmt.Sprintf("registry: sessions left %.1f s after every client closed: %v", r.SessionsGoneSeconds, r.SessionsLeft))
	}
	if len(r.States) == 0 {
		out = append(out, fmt.Sprintf("/v1/cluster: every node listed every member alive at every poll (%d polls unanswered)", r.PollErrors))
	}
	for _, s := range r.States {
		out = append(out, fmt.Sprintf("/v1/cluster: %s listed %s %s at %d polls, %.1f..%.1f s", s.Observer, s.Member, s.State, s.Polls, s.FirstS, s.LastS))
	}
	return out
}

// fdWarnings says when the run needs more connections on one node than a
// process may open here (limit): at the start, and when a node is killed or
// the nodes are restarted in turn, at the busiest moment (expectedPeak).
func fdWarnings(cfg Config, nodes int, limit uint64) []string {
	if limit == 0 || nodes < 1 {
		return nil
	}
	budget := int(limit) - 200 // Redis pool, peer links, gossip, listeners, logs
	var out []string
	if per := (cfg.Clients + nodes - 1) / nodes; per > budget {
		out = append(out, fmt.Sprintf("%d clients on %d nodes is %d per node, more than a process may hold here (%d open files)",
			cfg.Clients, nodes, per, limit))
	}
	if cfg.Scenario == "reconnect" && cfg.Mode != "drop" && nodes > 1 {
		if peak := expectedPeak(cfg.Clients, nodes, cfg.Mode); peak > budget {
			what := "while n1 is down"
			if cfg.Mode == "roll" {
				what = "at the busiest moment of the roll"
			}
			out = append(out, fmt.Sprintf("%s one node holds about %d of the %d clients (they reconnect to the other nodes at random), more than a process may hold here (%d open files): clients will fail to come back",
				what, peak, cfg.Clients, limit))
		}
	}
	return out
}

// expectedPeak is the most clients one node holds, on average, when the
// clients start evenly spread and a node's clients go to the others at
// random: n1 killed (mode kill), or each node drained in turn and back
// empty before the next (mode roll).
func expectedPeak(clients, nodes int, mode string) int {
	load := make([]float64, nodes)
	for i := range load {
		load[i] = float64(clients) / float64(nodes)
	}
	peak := load[0]
	rounds := nodes
	if mode == "kill" {
		rounds = 1
	}
	for i := range rounds {
		moving := load[i]
		load[i] = 0
		for j := range load {
			if j != i {
				load[j] += moving / float64(nodes-1)
				peak = max(peak, load[j])
			}
		}
	}
	return int(math.Round(peak))
}

func openFilesLimit() uint64 {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) != nil {
		return 0
	}
	return r.Cur
}

// rollHooks restart every node in turn (roll.go); a node gets shutdown
// plus 15 s to end after SIGTERM before it is SIGKILLed, and 30 s to be
// ready again.
func (s *stack) rollHooks(log *slog.Logger, shutdown time.Duration) hooks {
	return hooks{roll: func(ctx context.Context) ([]rollStep, error) {
		var nodes []rollNode
		i := 0
		for _, p := range s.procs {
			if p.name != "redis" {
				nodes = append(nodes, &procNode{p: p, target: s.targets[i]})
				i++
			}
		}
		return rollNodes(ctx, log, nodes, rollTimes{exit: shutdown + 15*time.Second, ready: 30 * time.Second, probe: 100 * time.Millisecond})
	}}
}

// procNode is a node process of the stack, as the roll sees it.
type procNode struct {
	p      *proc
	target string
	hc     http.Client
}

func (n *procNode) name() string            { return n.p.name }
func (n *procNode) terminate() error        { return n.p.cmd.Process.Signal(syscall.SIGTERM) }
func (n *procNode) exited() <-chan struct{} { return n.p.exited }
func (n *procNode) exitErr() error          { return n.p.err }
func (n *procNode) kill()                   { n.p.cmd.Process.Kill(); <-n.p.exited }
func (n *procNode) start() error            { return n.p.start() }
func (n *procNode) ready(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.target+"/readyz", nil)
	resp, err := n.hc.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// nodeCounters sums the refused connections and disconnects by reason over
// the nodes' /metrics, without the zeros.
func nodeCounters(ctx context.Context, targets []*url.URL) map[string]float64 {
	hc := &http.Client{Timeout: 2 * time.Second}
	out := map[string]float64{}
	for _, t := range targets {
		m, err := scrapeMetrics(ctx, hc, t)
		if err != nil {
			out["unanswered /metrics"]++
			continue
		}
		for k, v := range m.Samples {
			if v != 0 && (strings.HasPrefix(k, "courier_refused_total") || strings.HasPrefix(k, "courier_disconnects_total")) {
				out[k] += v
			}
		}
	}
	return out
}

// sessionsLeft polls /v1/cluster (of the first target that answers) until
// no node has a session registered or wait has passed, and returns the
// nodes that still have some (nil: none; {"?": -1}: no node answered).
func sessionsLeft(ctx context.Context, targets []string, wait time.Duration) map[string]int {
	hc := &http.Client{Timeout: 2 * time.Second}
	left := map[string]int{"?": -1}
	for end := time.Now().Add(wait); ; {
		for _, t := range targets {
			if got, err := sessionCounts(ctx, hc, t); err == nil {
				left = got
				break
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(end) || sleep(ctx, 250*time.Millisecond) != nil {
			return left
		}
	}
}

// sessionCounts is target's /v1/cluster: sessions per node, those above 0.
func sessionCounts(ctx context.Context, hc *http.Client, target string) (map[string]int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+"/v1/cluster", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cmpKey)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s", resp.Status)
	}
	var c struct {
		Nodes []struct {
			ID       string `json:"id"`
			Sessions int    `json:"sessions"`
		} `json:"nodes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, n := range c.Nodes {
		if n.Sessions > 0 {
			out[n.ID] = n.Sessions
		}
	}
	return out, nil
}

// stateSeen is a member that a node's /v1/cluster listed as not alive.
type stateSeen struct {
	Observer string  `json:"observer"`
	Member   string  `json:"member"`
	State    string  `json:"state"`
	FirstS   float64 `json:"first_s"` // seconds from the runner's first poll
	LastS    float64 `json:"last_s"`
	Polls    int     `json:"polls"`
}

// clusterWatch polls every node's /v1/cluster and keeps each (observer,
// member, state) that was not alive.
type clusterWatch struct {
	start  time.Time
	mu     sync.Mutex
	seen   []stateSeen
	errors int
}

func newClusterWatch() *clusterWatch { return &clusterWatch{start: time.Now()} }

// observe takes one answer of observer's /v1/cluster at t seconds.
func (w *clusterWatch) observe(observer string, body []byte, t float64) error {
	var c struct {
		Nodes []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range c.Nodes {
		if m.State == "alive" {
			continue
		}
		i := slices.IndexFunc(w.seen, func(s stateSeen) bool {
			return s.Observer == observer && s.Member == m.ID && s.State == m.State
		})
		if i < 0 {
			w.seen = append(w.seen, stateSeen{Observer: observer, Member: m.ID, State: m.State, FirstS: t})
			i = len(w.seen) - 1
		}
		w.seen[i].LastS = t
		w.seen[i].Polls++
	}
	return nil
}

func (w *clusterWatch) run(ctx context.Context, targets []string, every time.Duration) {
	hc := &http.Client{Timeout: every}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for i, t := range targets {
			if err := w.poll(ctx, hc, fmt.Sprintf("n%d", i+1), t); err != nil && ctx.Err() == nil {
				w.mu.Lock()
				w.errors++
				w.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (w *clusterWatch) poll(ctx context.Context, hc *http.Client, observer, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+"/v1/cluster", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cmpKey)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return w.observe(observer, body, round3(time.Since(w.start).Seconds()))
}

func (w *clusterWatch) list() ([]stateSeen, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.seen), w.errors
}
