package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"courier/loadtest/stats"
)

// A process holds at most 20,000 open files, so a connect or reconnect run
// of more clients than --per-process re-executes itself as N children,
// each with one slice of the clients and its own block of source
// addresses. A child reports JSON lines on stdout (counts twice a second,
// "ramped" once, in a reconnect run the pushes it received ten times a
// second, the final tallies last), takes commands one per line on stdin
// ("redial": reconnect every client dropped from now on; "drop": close
// every connection from the client side), and closes its connections and
// reports when its stdin closes.

// childLine is one line a child writes.
type childLine struct {
	Counts      fleetCounts    `json:"counts"`
	Ramped      bool           `json:"ramped,omitempty"`
	NotUp       []int32        `json:"not_up,omitempty"` // with Ramped: the clients without a connection (indexes over the run)
	Final       bool           `json:"final,omitempty"`
	Errors      map[string]int `json:"errors,omitempty"`
	DropReasons map[string]int `json:"drop_reasons,omitempty"`
	ConnectUs   []int64        `json:"connect_us,omitempty"`
	// Receipts are the pushes received since the previous line:
	// [k, client index over the run, unix ns, µs after meta.ts].
	Receipts   [][4]int64 `json:"rx,omitempty"`
	Unexpected int64      `json:"unexpected,omitempty"` // events that are no push of ours, since the previous line
	// Final only: the ramp's first and last CONNECT answered (unix ns), and
	// every time a client was without a connection (µs; see fleet.offline).
	FirstOpen int64   `json:"first_open,omitempty"`
	LastOpen  int64   `json:"last_open,omitempty"`
	OfflineUs []int64 `json:"offline_us,omitempty"`
	Away      int64   `json:"away,omitempty"`
}

// childRange is the slice of clients child i of n holds.
func childRange(clients, i, n int) (lo, hi int) {
	return i * clients / n, (i + 1) * clients / n
}

// receiptBuf collects a child's receipts between two lines.
type receiptBuf struct {
	mu         sync.Mutex
	rx         [][4]int64
	unexpected int64
}

// onEvent is the child's event handler: client ids are offset by lo, the
// child's first client, so the parent sees indexes over the whole run.
func (b *receiptBuf) onEvent(lo int) func(*client, []byte, []byte) {
	return func(c *client, name, args []byte) {
		now := time.Now().UnixNano()
		k, ts, ok := scanPush(name, args)
		b.mu.Lock()
		defer b.mu.Unlock()
		if !ok {
			b.unexpected++
			return
		}
		b.rx = append(b.rx, [4]int64{k, int64(lo) + int64(c.id), now, now/1000 - ts*1000})
	}
}

func (b *receiptBuf) take() ([][4]int64, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rx, u := b.rx, b.unexpected
	b.rx, b.unexpected = nil, 0
	return rx, u
}

// runChild is a child process: it holds its slice until stdin closes.
func runChild(ctx context.Context, cfg Config, log *slog.Logger, runID string, out io.Writer, in io.Reader) error {
	lo, hi := childRange(cfg.Clients, cfg.ChildIndex, cfg.ChildCount)
	cfg.ConnectRate /= float64(cfg.ChildCount)
	cfg.ConnectConcurrency = max(1, cfg.ConnectConcurrency/cfg.ChildCount)
	var rx receiptBuf
	onEvent := func(*client, []byte, []byte) {}
	if cfg.Scenario == "reconnect" {
		onEvent = rx.onEvent(lo)
	}
	f := newFleetRange(cfg, log.With("child", cfg.ChildIndex), runID, onEvent, lo, hi)
	var wmu sync.Mutex
	enc := json.NewEncoder(out)
	write := func(l childLine) {
		wmu.Lock()
		defer wmu.Unlock()
		enc.Encode(l)
	}
	stdinClosed := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			switch sc.Text() {
			case "redial":
				f.startRedial(ctx)
			case "drop":
				f.dropAll()
			}
		}
		close(stdinClosed)
	}()
	reporterDone := make(chan struct{})
	stopReporter := make(chan struct{})
	go func() {
		defer close(reporterDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 1; ; i++ {
			select {
			case <-tick.C:
				l := childLine{Counts: f.counts()}
				l.Receipts, l.Unexpected = rx.take()
				if i%5 == 0 || len(l.Receipts) > 0 || l.Unexpected > 0 {
					write(l)
				}
			case <-stopReporter:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	f.ramp(ctx)
	write(childLine{Counts: f.counts(), Ramped: true, NotUp: f.notUp()})
	select {
	case <-stdinClosed:
	case <-ctx.Done():
	}
	close(stopReporter)
	<-reporterDone
	offline, away := f.offline(time.Now())
	f.closeAll()
	f.mu.Lock()
	l := childLine{Counts: f.counts(), Final: true, Errors: f.errs, DropReasons: f.dropReasons, ConnectUs: f.connectLat,
		OfflineUs: offline, Away: away}
	f.mu.Unlock()
	l.FirstOpen, l.LastOpen = f.rampOpen()
	l.Receipts, l.Unexpected = rx.take()
	write(l)
	return nil
}

// children is a crowd of child processes.
type children struct {
	log *slog.Logger
	// onReceipt gets every push a child received (reconnect), on the
	// goroutine reading that child; unexpected counts what was no push.
	onReceipt  func(k int64, id int32, at, latUs int64)
	unexpected atomic.Int64
	// offlineLimit is Config.OfflineLimit, for the final tallies.
	offlineLimit time.Duration
	procs        []*exec.Cmd
	stdins       []io.WriteCloser
	mu           sync.Mutex
	last         []childLine
	notUp        []int32 // from every child's ramped line
	ramped       []chan struct{}
	final        []chan struct{}
}

// startChildren starts the children of a run; onReceipt (may be nil) gets
// the pushes they receive.
func startChildren(ctx context.Context, cfg Config, log *slog.Logger, runID string,
	onReceipt func(k int64, id int32, at, latUs int64)) (*children, error) {
	n := (cfg.Clients + cfg.PerProcess - 1) / cfg.PerProcess
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ch := &children{log: log, last: make([]childLine, n), onReceipt: onReceipt, offlineLimit: cfg.OfflineLimit}
	for i := range n {
		// The parent's own flags, then the child's: a later flag wins.
		args := append(append([]string(nil), cfg.Args...), "--child", fmt.Sprintf("%d/%d", i, n),
			"--run-id", runID, "--progress", "off")
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Stderr = os.Stderr
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		stdin, err1 := cmd.StdinPipe()
		stdout, err2 := cmd.StdoutPipe()
		if err := firstErr(err1, err2, cmd.Start()); err != nil {
			ch.stop()
			return nil, fmt.Errorf("child %d: %w", i, err)
		}
		log.Info("child started", "child", i, "of", n, "pid", cmd.Process.Pid)
		ch.procs, ch.stdins = append(ch.procs, cmd), append(ch.stdins, stdin)
		ramped, final := make(chan struct{}), make(chan struct{})
		ch.ramped, ch.final = append(ch.ramped, ramped), append(ch.final, final)
		go ch.read(i, stdout, ramped, final)
	}
	return ch, nil
}

// read follows child i's lines until its stdout ends.
func (ch *children) read(i int, r io.Reader, ramped, final chan struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // the final line holds every handshake time
	var rampedOnce, finalOnce sync.Once
	defer func() { // a child that died counts as done
		rampedOnce.Do(func() { close(ramped) })
		finalOnce.Do(func() { close(final) })
	}()
	for sc.Scan() {
		var l childLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if ch.onReceipt != nil {
			for _, r := range l.Receipts {
				ch.onReceipt(r[0], int32(r[1]), r[2], r[3])
			}
		}
		ch.unexpected.Add(l.Unexpected)
		l.Receipts = nil
		ch.mu.Lock()
		ch.notUp = append(ch.notUp, l.NotUp...)
		l.NotUp = nil
		ch.last[i] = l
		ch.mu.Unlock()
		if l.Ramped {
			rampedOnce.Do(func() { close(ramped) })
		}
		if l.Final {
			finalOnce.Do(func() { close(final) })
		}
	}
}

func (ch *children) ramp(ctx context.Context) {
	for _, r := range ch.ramped {
		select {
		case <-r:
		case <-ctx.Done():
			return
		}
	}
}

// send gives every child a command (see runChild).
func (ch *children) send(cmd string) {
	for i, w := range ch.stdins {
		if _, err := io.WriteString(w, cmd+"\n"); err != nil {
			ch.log.Warn("child did not take a command", "child", i, "cmd", cmd, "err", err)
		}
	}
}

func (ch *children) startRedial(context.Context) { ch.send("redial") }

func (ch *children) notUpAfterRamp() []int32 {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return slices.Clone(ch.notUp)
}
func (ch *children) dropAll() { ch.send("drop") }

func (ch *children) counts() fleetCounts {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return sumCounts(ch.last)
}

func sumCounts(lines []childLine) fleetCounts {
	var s fleetCounts
	for _, l := range lines {
		s.Live += l.Counts.Live
		s.Connected += l.Counts.Connected
		s.Failed += l.Counts.Failed
		s.Disconnects += l.Counts.Disconnects
		s.Delivered += l.Counts.Delivered
		s.Reconnects += l.Counts.Reconnects
		s.LastUp = max(s.LastUp, l.Counts.LastUp)
	}
	return s
}

func (ch *children) finish(res *Result) {
	ch.stop()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	mergeChildren(res, ch.last, ch.offlineLimit)
}

// mergeChildren adds the children's final tallies to res; an offline time
// longer than limit is too long.
func mergeChildren(res *Result, lines []childLine, limit time.Duration) {
	s := sumCounts(lines)
	res.Connected, res.Failed, res.Disconnects = s.Connected, s.Failed, s.Disconnects
	res.ConnectErrors, res.DropReasons = map[string]int{}, map[string]int{}
	var lat, offline []int64
	var first, last, away int64
	for _, l := range lines {
		for k, v := range l.Errors {
			res.ConnectErrors[k] += v
		}
		for k, v := range l.DropReasons {
			res.DropReasons[k] += v
		}
		lat = append(lat, l.ConnectUs...)
		offline = append(offline, l.OfflineUs...)
		away += l.Away
		if l.FirstOpen > 0 && (first == 0 || l.FirstOpen < first) {
			first = l.FirstOpen
		}
		last = max(last, l.LastOpen)
	}
	res.ConnectMs = stats.Summarize(lat)
	res.Processes = len(lines)
	res.Reconnects = s.Reconnects
	if first > 0 {
		res.RampOpenSeconds = round3(float64(last-first) / 1e9)
	}
	fillOffline(res, offline, away, limit)
}

// stop closes every child's stdin (it then closes its connections and
// reports), waits up to 30 s for its final line, and reaps it by PID.
func (ch *children) stop() {
	for _, w := range ch.stdins {
		w.Close()
	}
	for i, cmd := range ch.procs {
		select {
		case <-ch.final[i]:
		case <-time.After(30 * time.Second):
			ch.log.Warn("child did not report, killing it", "pid", cmd.Process.Pid)
			cmd.Process.Kill()
		}
		if err := cmd.Wait(); err != nil {
			ch.log.Warn("child ended", "pid", strconv.Itoa(cmd.Process.Pid), "err", err)
		}
	}
	ch.procs = nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
