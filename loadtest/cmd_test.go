package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"courier/router/trpc"
)

func TestParseCmdAck(t *testing.T) {
	cases := []struct {
		in   string
		ok   bool
		code string
		seq  int64
	}{
		{`[{"ok":true,"data":{"seq":42,"pad":"xx"}}]`, true, "", 42},
		{`[{"ok":true,"data":"plain"}]`, false, "", -1}, // data not an object: malformed for us
		{`[{"ok":true}]`, true, "", -1},
		{`[{"ok":false,"error":{"code":"timeout","message":"m","ret":0}}]`, false, "timeout", -1},
		{`[{"ok":false,"error":{"code":"backend_error","ret":12}}]`, false, "backend_error", -1},
		{`[{"ok":false}]`, false, "unknown", -1},
	}
	for _, c := range cases {
		ok, code, seq, err := parseCmdAck([]byte(c.in))
		if c.in == `[{"ok":true,"data":"plain"}]` {
			if err == nil {
				t.Errorf("%s: accepted", c.in)
			}
			continue
		}
		if err != nil || ok != c.ok || code != c.code || seq != c.seq {
			t.Errorf("%s: got %v %q %d %v", c.in, ok, code, seq, err)
		}
	}
	for _, in := range []string{``, `[]`, `{}`, `[{"ok":`, `x`} {
		if _, _, _, err := parseCmdAck([]byte(in)); err == nil {
			t.Errorf("%q: accepted", in)
		}
	}
}

func TestCmdArg(t *testing.T) {
	a := newCmdArg("/bench.echo.Echo/Say", 3, 2)
	got := a.build(1, 17)
	var v struct {
		Name string `json:"name"`
		Data struct {
			Seq int    `json:"seq"`
			Pad string `json:"pad"`
		} `json:"data"`
	}
	if err := json.Unmarshal(got, &v); err != nil || v.Name != "/bench.echo.Echo/Say" || v.Data.Seq != 17 || v.Data.Pad != "xxx" {
		t.Fatalf("%s: %+v %v", got, v, err)
	}
	// The buffer is reused per sender: a second build must not keep the first.
	if got := string(a.build(1, 5)); !strings.Contains(got, `"seq":5,`) || strings.Contains(got, "17") {
		t.Errorf("rebuild: %s", got)
	}
}

func TestValidCmdName(t *testing.T) {
	for _, s := range []string{"/bench.echo.Echo/Say", "/a/b"} {
		if !validCmdName(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"", "/", "bench.Echo/Say", "/bench.Echo", "/bench.Echo/", "//Say", "/a/b/c"} {
		if validCmdName(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestRecorderSummarize(t *testing.T) {
	r := newCmdRecorder(6, 1, time.Second)
	r.base = time.Now()
	for seq := range 6 {
		r.markSent(seq)
	}
	r.notSent(5, "write: x")   // counted as not sent, not as a timeout
	r.done(0, false, "warmup") // warm-up: not counted
	r.onAck(1, []byte(`[{"ok":true,"data":{"seq":1}}]`))
	r.onAck(1, []byte(`[{"ok":true,"data":{"seq":1}}]`)) // duplicate
	r.onAck(2, []byte(`[{"ok":true,"data":{"seq":9}}]`)) // mismatched echo
	r.onAck(3, []byte(`[{"ok":false,"error":{"code":"unavailable"}}]`))
	r.onAck(99, []byte(`[{"ok":true}]`)) // unknown id
	// 4 is never answered: a timeout.
	p := r.summarize(time.Second)
	if p.Sent != 4 || p.OK != 2 || p.Timeouts != 1 || p.Duplicates != 1 || p.Mismatched != 1 || p.Unexpected != 1 {
		t.Errorf("%+v", p)
	}
	if p.Errors["unavailable"] != 1 || p.Errors["timeout"] != 1 || p.Errors["not_sent: write: x"] != 1 || p.Errors["warmup"] != 0 {
		t.Errorf("errors %v", p.Errors)
	}
	if p.LatencyMs.N != 2 || p.CmdsPerSec != 2 {
		t.Errorf("latency %+v, rate %v", p.LatencyMs, p.CmdsPerSec)
	}
}

func TestDirectErrCode(t *testing.T) {
	cases := map[string]error{
		"":              nil,
		"backend_error": &trpc.Error{Ret: 12},
		"timeout":       trpc.ErrTimeout,
		"overloaded":    trpc.ErrOverloaded,
		"unavailable":   errors.Join(trpc.ErrUnavailable),
	}
	for want, err := range cases {
		if got := directErrCode(err); got != want {
			t.Errorf("%v: got %q want %q", err, got, want)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// Field 2 may hold spaces and parentheses; utime 250 + stime 50 ticks.
	line := "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 123 456 789\n"
	got, err := parseProcStat([]byte(line))
	if err != nil || got != 3.0 {
		t.Errorf("got %v %v", got, err)
	}
	for _, bad := range []string{"", "1234 (x) S 1 2", "1234 (x) S 1 1 1 0 -1 0 0 0 0 0 a b"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPidList(t *testing.T) {
	var l pidList
	if err := l.Set("echo=12,node=34"); err != nil || len(l) != 2 || l[1] != (watchedPID{"node", 34}) {
		t.Fatalf("%v %v", l, err)
	}
	for _, bad := range []string{"echo", "=3", "x=0", "x=y"} {
		if err := new(pidList).Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseCmdConfig(t *testing.T) {
	base := []string{"cmd", "--target", "http://127.0.0.1:8080", "--api-key", "k", "--jwt-secret", "s"}
	c, err := parseConfig(append(base, "--direct", "127.0.0.1:8790", "--rate", "5000", "--watch-pid", "echo=7"))
	if err != nil || c.Direct != "127.0.0.1:8790" || c.CmdName != "/bench.echo.Echo/Say" || c.Rate != 5000 || len(c.WatchPIDs) != 1 {
		t.Fatalf("%+v %v", c, err)
	}
	for _, extra := range [][]string{{"--direct", "10.0.0.1:8790"}, {"--direct", "nope"}, {"--name", "Say"}, {"--cmd-timeout", "0"}} {
		if _, err := parseConfig(append(append([]string(nil), base...), extra...)); err == nil {
			t.Errorf("%v accepted", extra)
		}
	}
	if _, err := parseConfig(append(append([]string(nil), base...), "--direct", "10.0.0.1:8790", "--allow-remote")); err != nil {
		t.Errorf("--allow-remote: %v", err)
	}
}

func TestParseEcho(t *testing.T) {
	c, err := parseEcho([]string{"--listen", "127.0.0.1:0", "--func", "/a.B/C, /a.B/D", "--duration", "1s"})
	if err != nil || len(c.Funcs) != 2 || c.Funcs[1] != "/a.B/D" || c.Duration != time.Second {
		t.Fatalf("%+v %v", c, err)
	}
	for _, args := range [][]string{{"--listen", "0.0.0.0:1"}, {"--func", "nope"}, {"--func", ""}, {"--listen", "x"}, {"extra"}} {
		if _, err := parseEcho(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
