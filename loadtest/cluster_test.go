package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNextTargetTriesOwnThenAnother(t *testing.T) {
	if got := nextTarget(2, 0, 3, func(int) int { t.Fatal("random at the first attempt"); return 0 }); got != 2 {
		t.Fatalf("first attempt went to %d", got)
	}
	seen := map[int]bool{}
	for r := range 2 {
		got := nextTarget(2, 1, 3, func(n int) int {
			if n != 2 {
				t.Fatalf("rnd(%d), want rnd(2)", n)
			}
			return r
		})
		if got == 2 {
			t.Fatal("a later attempt went back to the same target")
		}
		seen[got] = true
	}
	if !seen[0] || !seen[1] {
		t.Fatalf("others reached: %v", seen)
	}
	if nextTarget(0, 5, 1, func(int) int { return 0 }) != 0 {
		t.Fatal("one target: must stay")
	}
}

// fakeNode plays a node process for the roll: it ends some time after
// SIGTERM, answers /readyz 503 while draining and 200 some time after a
// start; every call goes into the shared journal.
type fakeNode struct {
	id         string
	journal    *[]string
	mu         *sync.Mutex
	exitAfter  time.Duration // after SIGTERM; 0 = never (must be killed)
	readyAfter time.Duration // after start; <0 = exits at once instead
	startErr   error

	ch        chan struct{}
	err       error
	draining  bool
	startedAt time.Time
}

func (f *fakeNode) log(s string) {
	f.mu.Lock()
	*f.journal = append(*f.journal, f.id+" "+s)
	f.mu.Unlock()
}
func (f *fakeNode) name() string { return f.id }
func (f *fakeNode) terminate() error {
	f.log("term")
	f.mu.Lock()
	f.draining = true
	f.mu.Unlock()
	if f.exitAfter > 0 {
		ch := f.ch
		time.AfterFunc(f.exitAfter, func() { close(ch) })
	}
	return nil
}
func (f *fakeNode) exited() <-chan struct{} { return f.ch }
func (f *fakeNode) exitErr() error          { return f.err }
func (f *fakeNode) kill() {
	f.log("kill")
	f.err = errors.New("signal: killed")
	close(f.ch)
}
func (f *fakeNode) start() error {
	f.log("start")
	if f.startErr != nil {
		return f.startErr
	}
	f.mu.Lock()
	f.ch, f.err, f.draining, f.startedAt = make(chan struct{}), nil, false, time.Now()
	f.mu.Unlock()
	if f.readyAfter < 0 {
		f.err = errors.New("exit status 1")
		close(f.ch)
	}
	return nil
}
func (f *fakeNode) ready(context.Context) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.draining && f.readyAfter >= 0 && time.Since(f.startedAt) >= f.readyAfter
}

func newFakes(specs ...fakeNode) ([]rollNode, *[]string) {
	journal, mu := &[]string{}, &sync.Mutex{}
	var out []rollNode
	for i := range specs {
		f := specs[i]
		f.journal, f.mu, f.ch = journal, mu, make(chan struct{})
		out = append(out, &f)
	}
	return out, journal
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestRollNodesOneAfterTheOther(t *testing.T) {
	nodes, journal := newFakes(
		fakeNode{id: "n1", exitAfter: 30 * time.Millisecond, readyAfter: 20 * time.Millisecond},
		fakeNode{id: "n2", exitAfter: 30 * time.Millisecond, readyAfter: 20 * time.Millisecond},
		fakeNode{id: "n3", exitAfter: 30 * time.Millisecond, readyAfter: 20 * time.Millisecond},
	)
	steps, err := rollNodes(context.Background(), quiet, nodes, rollTimes{exit: time.Second, ready: time.Second, probe: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := "n1 term,n1 start,n2 term,n2 start,n3 term,n3 start"
	if got := strings.Join(*journal, ","); got != want {
		t.Fatalf("order %s, want %s", got, want)
	}
	if len(steps) != 3 {
		t.Fatalf("%d steps", len(steps))
	}
	prevReady := 0.0
	for _, s := range steps {
		if s.Killed || s.Err != "" || s.Exit != "" {
			t.Fatalf("step %+v", s)
		}
		if !(s.TermAt >= prevReady && s.NotReadyAt >= s.TermAt && s.GoneAt >= s.TermAt+0.02 && s.StartedAt >= s.GoneAt && s.ReadyAt >= s.StartedAt+0.015) {
			t.Fatalf("times out of order: %+v (previous ready %.3f)", s, prevReady)
		}
		prevReady = s.ReadyAt
	}
}

func TestRollNodesKillsAStragglerAndStopsAtAFailure(t *testing.T) {
	nodes, journal := newFakes(
		fakeNode{id: "n1", readyAfter: 0},                               // never ends by itself
		fakeNode{id: "n2", exitAfter: time.Millisecond, readyAfter: -1}, // dies after its restart
		fakeNode{id: "n3", exitAfter: time.Millisecond},
	)
	steps, err := rollNodes(context.Background(), quiet, nodes, rollTimes{exit: 30 * time.Millisecond, ready: time.Second, probe: 5 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "n2") || !strings.Contains(err.Error(), "exited after its restart") {
		t.Fatalf("err %v", err)
	}
	if got := strings.Join(*journal, ","); got != "n1 term,n1 kill,n1 start,n2 term,n2 start" {
		t.Fatalf("journal %s", got)
	}
	if len(steps) != 2 || !steps[0].Killed || steps[0].Exit != "signal: killed" || steps[0].ReadyAt == 0 || steps[1].Err == "" {
		t.Fatalf("steps %+v", steps)
	}
}

func TestRollNodesNotReadyInTime(t *testing.T) {
	nodes, _ := newFakes(fakeNode{id: "n1", exitAfter: time.Millisecond, readyAfter: time.Hour})
	steps, err := rollNodes(context.Background(), quiet, nodes, rollTimes{exit: time.Second, ready: 30 * time.Millisecond, probe: 5 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "not ready") || len(steps) != 1 || steps[0].ReadyAt != 0 {
		t.Fatalf("err %v steps %+v", err, steps)
	}
	nodes, _ = newFakes(fakeNode{id: "n1", exitAfter: time.Millisecond, startErr: errors.New("no binary")})
	if _, err := rollNodes(context.Background(), quiet, nodes, rollTimes{exit: time.Second, ready: time.Second, probe: 5 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "no binary") {
		t.Fatalf("start error: %v", err)
	}
}

// A node's log as the node writes it (slog text), with memberlist's lines
// through the node's bridge, go-redis's own logger, the runner's restart
// marker and a panic.
const sampleLog = `time=2026-12-04T15:46:04.684Z level=INFO msg="gossip listening" node=n1 component=cluster addr=127.0.0.1:17941 encrypted=true
time=2026-12-04T15:46:05.001Z level=INFO msg="Suspect n3 has failed, no acks received" node=n1 component=memberlist
time=2026-12-04T15:46:05.002Z level=INFO msg="member suspect" node=n1 component=cluster event=update peer=n3
time=2026-12-04T15:46:05.100Z level=WARN msg="Refuting a suspect message (from: n2)" node=n1 component=memberlist
time=2026-12-04T15:46:06.000Z level=INFO msg="Marking n3 as failed, suspect timeout reached (2 peer confirmations)" node=n1 component=memberlist
time=2026-12-04T15:46:06.001Z level=INFO msg="member dead" node=n1 component=cluster event=leave peer=n3
time=2026-12-04T15:46:06.600Z level=INFO msg="purged the sessions of a dead node" node=n1 component=peers dead=n3 sessions=12
time=2026-12-04T15:46:07.000Z level=INFO msg="member left" node=n1 component=cluster event=leave peer=n2
time=2026-12-04T15:46:07.500Z level=INFO msg="a node declared dead is alive again; not purged" node=n1 component=peers node=n2
time=2026-12-04T15:46:08.000Z level=WARN msg="store failed" node=n1 err="context deadline exceeded"
time=2026-12-04T15:46:08.100Z level=WARN msg="store failed" node=n1 err="context deadline exceeded"
time=2026-12-04T15:46:09.000Z level=ERROR msg="api call failed" node=n1 path=/v1/push
redis: 2026/12/04 15:46:28 pool.go:770: redis: connection pool: failed to dial after 5 attempts
redis: 2026/12/04 15:46:29 pool.go:770: redis: connection pool: failed to dial after 5 attempts
---- 2026-12-04T15:47:00Z: started again
panic: runtime error: index out of range
`

func TestSummarizeLogs(t *testing.T) {
	dir := t.TempDir()
	n1, n2 := filepath.Join(dir, "n1.log"), filepath.Join(dir, "n2.log")
	os.WriteFile(n1, []byte(sampleLog), 0o644)
	quietLog := "time=2026-12-04T15:46:04.684Z level=INFO msg=\"courier node listening\" node=n2\n"
	os.WriteFile(n2, []byte(quietLog), 0o644)
	rep, err := summarizeLogs([]string{n1, n2}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := logSummary{Lines: 16, Warn: 3, Error: 1, Suspect: 3, Refuting: 1, Dead: 2, Left: 1, Purge: 1, NotPurged: 1, Panics: 1, Unleveled: 3, Restarts: 1}
	if rep.Nodes["n1"] != want {
		t.Fatalf("n1 %+v\nwant %+v", rep.Nodes["n1"], want)
	}
	if rep.Nodes["n2"] != (logSummary{Lines: 1}) || rep.Total.Lines != 17 || rep.Total.Warn != 3 {
		t.Fatalf("n2 %+v total %+v", rep.Nodes["n2"], rep.Total)
	}
	if rep.Top[0] != (msgCount{"(no level) redis: pool.go:770: redis: connection pool: failed to dial after 5 attempts", 2}) ||
		rep.Top[1] != (msgCount{"WARN store failed", 2}) {
		t.Fatalf("top %+v", rep.Top)
	}
	if len(rep.Notable) != 8 || !strings.HasPrefix(rep.Notable[0], "n1: ") || !strings.Contains(rep.Notable[0], "Suspect n3") {
		t.Fatalf("notable %q", rep.Notable)
	}
	text := strings.Join(rep.lines("node logs", true), "\n")
	for _, s := range []string{"WARN 3, ERROR 1", "suspect 3, refuting 1, dead 2, left 1, purge 1, not purged 1", "n1 ", "2 × WARN store failed"} {
		if !strings.Contains(text, s) {
			t.Fatalf("lines lack %q:\n%s", s, text)
		}
	}
	if strings.Contains(text, "  n2 ") {
		t.Fatalf("a quiet node is listed:\n%s", text)
	}

	// From and to: only the part in between counts.
	mid := map[string]int64{n1: int64(strings.Index(sampleLog, "time=2026-12-04T15:46:08.000Z"))}
	before, _ := summarizeLogs([]string{n1}, nil, mid)
	after, _ := summarizeLogs([]string{n1}, mid, nil)
	if short := rep.lines("x", false); len(short) != 1 {
		t.Fatalf("short form %q", short)
	}
	if before.Total.Warn != 1 || before.Total.Lines != 9 || after.Total.Warn != 2 || after.Total.Lines != 7 || after.Total.Panics != 1 {
		t.Fatalf("before %+v after %+v", before.Total, after.Total)
	}
	if sz := logSizes([]string{n1, filepath.Join(dir, "none.log")}); sz[n1] != int64(len(sampleLog)) || len(sz) != 1 {
		t.Fatalf("sizes %v", sz)
	}
}

func TestParseLogLine(t *testing.T) {
	for line, want := range map[string]logLine{
		`time=x level=WARN msg="a b" k=v`:                     {"WARN", "a b"},
		`time=x level=info msg=plain k=v`:                     {"INFO", "plain"},
		`{"time":"x","level":"ERROR","msg":"json one","k":1}`: {"ERROR", "json one"},
		`redis: 2026/12/04 15:46:28 pool.go:770: x`:           {"", ""},
		`time=x level=INFO msg="quoted \"inner\" text"`:       {"INFO", `quoted "inner" text`},
		`time=x msg=nolevel loglevel=WARN`:                    {"", "nolevel"},
	} {
		if got := parseLogLine(line); got != want {
			t.Errorf("%s: %+v, want %+v", line, got, want)
		}
	}
}

func TestCompareNodeNames(t *testing.T) {
	names := []string{"n10", "n2", "n1", "redis"}
	slices.SortFunc(names, compareNodeNames)
	if strings.Join(names, ",") != "n1,n2,n10,redis" {
		t.Fatalf("%v", names)
	}
}

func TestClusterWatchKeepsWhatWasNotAlive(t *testing.T) {
	w := newClusterWatch()
	body := func(states ...string) []byte {
		var b bytes.Buffer
		b.WriteString(`{"nodes":[`)
		for i, s := range states {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"id":"n` + string(rune('1'+i)) + `","addr":"x","state":"` + s + `","sessions":3}`)
		}
		b.WriteString(`]}`)
		return b.Bytes()
	}
	for i, st := range [][]string{{"alive", "alive"}, {"alive", "suspect"}, {"alive", "suspect"}, {"alive", "dead"}, {"alive", "alive"}} {
		if err := w.observe("n1", body(st...), float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	w.observe("n3", body("left", "alive"), 9)
	if err := w.observe("n1", []byte("not json"), 10); err == nil {
		t.Fatal("bad body accepted")
	}
	got, _ := w.list()
	want := []stateSeen{{"n1", "n2", "suspect", 1, 2, 2}, {"n1", "n2", "dead", 3, 3, 1}, {"n3", "n1", "left", 9, 9, 1}}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
	rep := &clusterReport{States: got}
	if text := strings.Join(rep.lines(), "\n"); !strings.Contains(text, "n1 listed n2 suspect at 2 polls, 1.0..2.0 s") {
		t.Fatalf("lines:\n%s", text)
	}
}

func TestSplitClusterFlags(t *testing.T) {
	cf, rest, err := splitClusterFlags([]string{"--dry-run", "--nodes", "10", "--clients", "5", "--node-flag=--drain-spread=2s", "--node-flag", "--drain-delay=1s",
		"--courier-bin=/x/courier", "--nodes=4", "--cluster-poll", "0s", "--mode", "roll", "--node-shutdown-timeout", "20s"})
	if err != nil {
		t.Fatal(err)
	}
	if !cf.dryRun || cf.nodes != 4 || cf.courierBin != "/x/courier" || cf.poll != 0 || cf.shutdownTimeout != 20*time.Second ||
		strings.Join(cf.nodeFlags, " ") != "--drain-spread=2s --drain-delay=1s" || cf.secret == "" || cf.logLevel != "info" {
		t.Fatalf("%+v", cf)
	}
	if strings.Join(rest, " ") != "--clients 5 --mode roll" {
		t.Fatalf("rest %q", rest)
	}
	for _, bad := range [][]string{{"--nodes", "0"}, {"--nodes", "x"}, {"--cluster-poll", "1"}, {"--out"}} {
		if _, _, err := splitClusterFlags(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	ns := nodeSetup{logLevel: cf.logLevel, shutdownTimeout: cf.shutdownTimeout, secret: "s", extra: cf.nodeFlags}
	if got := strings.Join(ns.args(), " "); got != "--shutdown-timeout 20s --log-level info --cluster-secret s --drain-spread=2s --drain-delay=1s" {
		t.Fatalf("node args %q", got)
	}
	if got := strings.Join(nodeSetup{}.args(), " "); got != "--shutdown-timeout 5s --log-level warn" {
		t.Fatalf("compare's node args %q", got)
	}
}

func TestSessionsLeft(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/cluster" || r.Header.Get("Authorization") != "Bearer "+cmpKey {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if calls.Add(1) < 3 { // the registry forgets the last ones on the third look
			w.Write([]byte(`{"nodes":[{"id":"n1","state":"alive","sessions":2},{"id":"n2","state":"alive","sessions":0}]}`))
			return
		}
		w.Write([]byte(`{"nodes":[{"id":"n1","state":"alive","sessions":0},{"id":"n2","state":"alive","sessions":0}]}`))
	}))
	defer srv.Close()
	down := "http://127.0.0.1:1" // refused: the next target answers
	if left := sessionsLeft(t.Context(), []string{down, srv.URL}, 5*time.Second); left != nil {
		t.Fatalf("left %v", left)
	}
	calls.Store(-100)
	if left := sessionsLeft(t.Context(), []string{srv.URL}, 300*time.Millisecond); left["n1"] != 2 || len(left) != 1 {
		t.Fatalf("left %v", left)
	}
	if left := sessionsLeft(t.Context(), []string{down}, 100*time.Millisecond); left["?"] != -1 {
		t.Fatalf("nobody answered: %v", left)
	}
}

func TestNodeCounters(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("# HELP x\nprocess_resident_memory_bytes 1e+07\n" +
			"courier_refused_total{reason=\"overloaded\"} 3\n" +
			"courier_refused_total{reason=\"token\"} 0\n" +
			"courier_disconnects_total{reason=\"shutdown\"} 5\n" +
			"courier_deliveries_total 9\n"))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	down, _ := url.Parse("http://127.0.0.1:1")
	got := nodeCounters(t.Context(), []*url.URL{u, u, down})
	want := map[string]float64{`courier_refused_total{reason="overloaded"}`: 6, `courier_disconnects_total{reason="shutdown"}`: 10, "unanswered /metrics": 1}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: %v (all: %v)", k, got[k], got)
		}
	}
}

func TestFdWarnings(t *testing.T) {
	scale := Config{Scenario: "connect", Clients: 150000}
	if w := fdWarnings(scale, 10, 20000); len(w) != 0 {
		t.Fatalf("150,000 on 10 nodes: %q", w)
	}
	if w := fdWarnings(scale, 5, 20000); len(w) != 1 || !strings.Contains(w[0], "30000 per node") {
		t.Fatalf("150,000 on 5 nodes: %q", w)
	}
	kill := Config{Scenario: "reconnect", Mode: "kill", Clients: 45000}
	w := fdWarnings(kill, 3, 20000)
	if len(w) != 1 || !strings.Contains(w[0], "while n1 is down one node holds about 22500 of the 45000") {
		t.Fatalf("45,000 on 3, one down: %q", w)
	}
	if w := fdWarnings(Config{Scenario: "reconnect", Mode: "kill", Clients: 36000}, 3, 20000); len(w) != 0 {
		t.Fatalf("36,000 on 3, n1 killed: %q", w)
	}
	if w := fdWarnings(Config{Scenario: "reconnect", Mode: "roll", Clients: 36000}, 3, 20000); len(w) != 1 || !strings.Contains(w[0], "about 27000") {
		t.Fatalf("36,000 on 3, rolled: %q", w)
	}
	if w := fdWarnings(Config{Scenario: "reconnect", Mode: "drop", Clients: 45000}, 3, 20000); len(w) != 0 {
		t.Fatalf("drop keeps every node: %q", w)
	}
	if fdWarnings(kill, 3, 0) != nil {
		t.Fatal("unknown limit warned")
	}
}

func TestExpectedPeak(t *testing.T) {
	for _, tc := range []struct {
		clients, nodes int
		mode           string
		want           int
	}{
		{45000, 3, "kill", 22500}, // 15,000 + 7,500
		{45000, 3, "roll", 33750}, // n1 out: 22,500 each; n2 out: n3 = 22,500 + 11,250
		{40000, 4, "roll", 23704}, // n4: 10,000 + 3,333 + 4,444 + 5,926, a third of each leaving node
		{30000, 2, "kill", 30000},
		{15000, 1, "connect", 15000},
	} {
		if got := expectedPeak(tc.clients, tc.nodes, tc.mode); got != tc.want {
			t.Errorf("%+v: %d", tc, got)
		}
	}
}

func TestRollConfig(t *testing.T) {
	base := []string{"--target", "http://127.0.0.1:1", "--api-key", "k", "--jwt-secret", "s"}
	cfg, err := parseConfig(append([]string{"reconnect", "--mode", "roll", "--rate", "1000", "--roll-timeout", "4m"}, base...))
	if err != nil {
		t.Fatal(err)
	}
	drop, _ := parseConfig(append([]string{"reconnect", "--rate", "1000"}, base...))
	if cfg.deadline()-drop.deadline() < 4*time.Minute-time.Minute {
		t.Fatalf("the roll's deadline %v does not cover --roll-timeout (drop: %v)", cfg.deadline(), drop.deadline())
	}
	if _, err := parseConfig(append([]string{"reconnect", "--mode", "roll", "--rate", "100000", "--roll-timeout", "10m"}, base...)); err == nil {
		t.Fatal("a push table of 60M accepted")
	}
	if _, err := parseConfig(append([]string{"reconnect", "--mode", "spin"}, base...)); err == nil {
		t.Fatal("--mode spin accepted")
	}
	if _, err := runReconnect(context.Background(), cfg, quiet, "x", hooks{}); err == nil || !strings.Contains(err.Error(), "loadtest cluster") {
		t.Fatalf("roll without a runner: %v", err)
	}
}
