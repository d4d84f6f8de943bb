package main

import (
	"strings"
	"testing"
	"time"
)

func TestChildRangeCoversEveryClientOnce(t *testing.T) {
	for _, tc := range []struct{ clients, n int }{{15000, 1}, {40000, 3}, {7, 3}, {5, 5}} {
		next := 0
		for i := range tc.n {
			lo, hi := childRange(tc.clients, i, tc.n)
			if lo != next || hi < lo {
				t.Fatalf("%+v child %d: [%d,%d), want start %d", tc, i, lo, hi, next)
			}
			next = hi
		}
		if next != tc.clients {
			t.Fatalf("%+v: covered %d", tc, next)
		}
	}
}

func TestMergeChildren(t *testing.T) {
	lines := []childLine{
		{Counts: fleetCounts{Live: 10, Connected: 10, Failed: 1}, Final: true, Errors: map[string]int{"timeout": 1}, ConnectUs: []int64{1000, 3000}},
		{Counts: fleetCounts{Live: 5, Connected: 6, Disconnects: 1}, Final: true, DropReasons: map[string]int{"eof": 1}, ConnectUs: []int64{2000}},
	}
	res := &Result{}
	mergeChildren(res, lines, 5*time.Second)
	if res.Connected != 16 || res.Failed != 1 || res.Disconnects != 1 || res.Processes != 2 {
		t.Fatalf("merged %+v", res)
	}
	if res.ConnectErrors["timeout"] != 1 || res.DropReasons["eof"] != 1 || res.ConnectMs.N != 3 || res.ConnectMs.P50 != 2 {
		t.Fatalf("errors %v drops %v connect %+v", res.ConnectErrors, res.DropReasons, res.ConnectMs)
	}
	if c := sumCounts(lines); c.Live != 15 {
		t.Fatalf("live %d", c.Live)
	}
}

func TestChildFlagAndReconnectValidation(t *testing.T) {
	base := []string{"--target", "http://127.0.0.1:1", "--api-key", "k", "--jwt-secret", "s"}
	cfg, err := parseConfig(append([]string{"connect", "--child", "1/3"}, base...))
	if err != nil || cfg.ChildIndex != 1 || cfg.ChildCount != 3 || len(cfg.Args) == 0 {
		t.Fatalf("child: %+v %v", cfg, err)
	}
	if _, err := parseConfig(append([]string{"connect", "--child", "3/3"}, base...)); err == nil {
		t.Fatal("--child 3/3 accepted")
	}
	if _, err := parseConfig(append([]string{"reconnect", "--mode", "kill"}, base...)); err == nil {
		t.Fatal("--mode kill without --kill-cmd accepted")
	}
	if _, err := parseConfig(append([]string{"connect", "--per-process", "20000"}, base...)); err == nil {
		t.Fatal("--per-process above the fd limit accepted")
	}
	if _, err := parseConfig([]string{"connect", "--target", "http://10.0.0.1:80", "--api-key", "k", "--jwt-secret", "s"}); err == nil {
		t.Fatal("remote target accepted without --allow-remote")
	}
}

func TestParseVmRSS(t *testing.T) {
	rss, err := parseVmRSS("Name:\tnode\nVmPeak:\t  999 kB\nVmRSS:\t   1234 kB\nThreads: 7\n")
	if err != nil || rss != 1234*1024 {
		t.Fatalf("rss %d err %v", rss, err)
	}
	if _, err := parseVmRSS("Name: x\n"); err == nil {
		t.Fatal("no VmRSS accepted")
	}
}

func TestHistogram(t *testing.T) {
	h := histogram([]int64{50, 100, 101, 1500, 70_000_000})
	var total int64
	for _, b := range h {
		total += b.Count
	}
	if total != 5 || h[0].Count != 2 || h[0].UpToMs != 0.1 || h[1].Count != 1 || h[len(h)-1].Count != 1 || h[len(h)-1].UpToMs != 0 {
		t.Fatalf("histogram %+v", h)
	}
	a := newAtomicHist(1000, 100)
	for i := range 1000 {
		a.add(int64(i) * 1000)
	}
	s, buckets := a.summary()
	if s.N != 100 || s.P50 < 400 || s.P50 > 600 || len(buckets) != len(histBoundsUs)+1 {
		t.Fatalf("atomic summary %+v", s)
	}
}

func TestRoomRecorderDedup(t *testing.T) {
	r := newRoomRecorder(3, 4)
	c := &client{id: 2}
	ev := []byte(`[{"k":3},{"id":"x","seq":1,"ts":1}]`)
	r.onEvent(c, []byte(pushEvent), ev)
	r.onEvent(c, []byte(pushEvent), ev)
	r.onEvent(&client{id: 1}, []byte(pushEvent), ev)
	r.onEvent(c, []byte(pushEvent), []byte(`[{"k":9},{"ts":1}]`))
	if r.delivered.Load() != 2 || r.dups.Load() != 1 || r.unexp.Load() != 1 {
		t.Fatalf("delivered %d dups %d unexpected %d", r.delivered.Load(), r.dups.Load(), r.unexp.Load())
	}
}

func TestNiceTicksCoverTheTop(t *testing.T) {
	for _, hi := range []float64{1, 45.1, 6800, 0.003, 15000} {
		tk := niceTicks(0, hi, 5)
		if tk[len(tk)-1] < hi || tk[0] != 0 || len(tk) > 12 {
			t.Fatalf("ticks for %v: %v", hi, tk)
		}
	}
	for v, want := range map[float64]string{15000: "15k", 2.5e6: "2.5M", 0: "0", 0.25: "0.25", 150: "150"} {
		if got := fmtNum(v); got != want {
			t.Fatalf("fmtNum(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestSplitCompareFlags(t *testing.T) {
	cf, rest, err := splitCompareFlags([]string{"--courier-bin", "/x/courier", "--clients", "10", "--out=/tmp/o", "--courier-nodes", "2", "--rate", "5"})
	if err != nil || cf.courierBin != "/x/courier" || cf.out != "/tmp/o" || cf.nodes != 2 {
		t.Fatalf("%+v %v", cf, err)
	}
	if strings.Join(rest, " ") != "--clients 10 --rate 5" {
		t.Fatalf("rest %q", rest)
	}
	if _, _, err := splitCompareFlags([]string{"--courier-nodes", "x"}); err == nil {
		t.Fatal("bad --courier-nodes accepted")
	}
}

func TestReportIsReadable(t *testing.T) {
	mk := func(rss int64) *Result {
		return &Result{Scenario: "room", Connected: 100, Accepted: 10, Delivered: 1000, MsgsPerSec: 5750.7,
			LatencyHist: histogram([]int64{500, 800, 4000}),
			Timeline: []sample{{T: 0, Live: 0, RSS: map[string]int64{"x": rss}}, {T: 1, Live: 100, Delivered: 500, RSS: map[string]int64{"x": 2 * rss}},
				{T: 2, Live: 100, Delivered: 1000, RSS: map[string]int64{"x": 2 * rss}}}}
	}
	page := reportHTML("t", []namedResult{{"courier", mk(20 << 20)}, {"node", mk(50 << 20)}})
	for _, want := range []string{"<svg", "Open connections", "Latency histogram", "Server RSS", "courier x", "node x", "5751"} {
		if !strings.Contains(page, want) {
			t.Fatalf("report lacks %q", want)
		}
	}
	for _, bad := range []string{"NaN", "Inf", "e+0", "http://cdn", "<script"} {
		if strings.Contains(page, bad) {
			t.Fatalf("report contains %q", bad)
		}
	}
	lines := compareLines(mk(1), mk(2))
	if !strings.Contains(strings.Join(lines, "\n"), "lost") {
		t.Fatalf("audit zero left out of the comparison:\n%s", strings.Join(lines, "\n"))
	}
}

func TestProgressLines(t *testing.T) {
	s := progressLines(fleetCounts{Live: 7500, Failed: 2}, 15000, 12000, 2)
	if !strings.Contains(s, "7500/15000") || !strings.Contains(s, "[###############...............]") || strings.Count(s, "\n") != 3 {
		t.Fatalf("progress:\n%s", s)
	}
	if bar(5, 0, 4) != "[....]" || bar(9, 3, 4) != "[####]" {
		t.Fatal("bar bounds")
	}
}
