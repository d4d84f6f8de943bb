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
	"strconv"
	"sync"
	"syscall"
	"time"

	"courier/loadtest/stats"
)

// A process holds at most 20,000 open files, so a connect run of more
// clients than --per-process re-executes itself as N children, each with
// one slice of the clients and its own block of source addresses. A child
// reports JSON lines on stdout (counts twice a second, "ramped" once, the
// final tallies last) and closes its connections when its stdin closes.

// childLine is one line a child writes.
type childLine struct {
	Counts      fleetCounts    `json:"counts"`
	Ramped      bool           `json:"ramped,omitempty"`
	Final       bool           `json:"final,omitempty"`
	Errors      map[string]int `json:"errors,omitempty"`
	DropReasons map[string]int `json:"drop_reasons,omitempty"`
	ConnectUs   []int64        `json:"connect_us,omitempty"`
}

// childRange is the slice of clients child i of n holds.
func childRange(clients, i, n int) (lo, hi int) {
	return i * clients / n, (i + 1) * clients / n
}

// runChild is a child process: it holds its slice until stdin closes.
func runChild(ctx context.Context, cfg Config, log *slog.Logger, runID string, out io.Writer, in io.Reader) error {
	lo, hi := childRange(cfg.Clients, cfg.ChildIndex, cfg.ChildCount)
	cfg.ConnectRate /= float64(cfg.ChildCount)
	cfg.ConnectConcurrency = max(1, cfg.ConnectConcurrency/cfg.ChildCount)
	f := newFleetRange(cfg, log.With("child", cfg.ChildIndex), runID, func(*client, []byte, []byte) {}, lo, hi)
	var wmu sync.Mutex
	enc := json.NewEncoder(out)
	write := func(l childLine) {
		wmu.Lock()
		defer wmu.Unlock()
		enc.Encode(l)
	}
	stdinClosed := make(chan struct{})
	go func() { io.Copy(io.Discard, in); close(stdinClosed) }()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	go func() {
		for {
			select {
			case <-tick.C:
				write(childLine{Counts: f.counts()})
			case <-stdinClosed:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	f.ramp(ctx)
	write(childLine{Counts: f.counts(), Ramped: true})
	select {
	case <-stdinClosed:
	case <-ctx.Done():
	}
	f.closeAll()
	f.mu.Lock()
	l := childLine{Counts: f.counts(), Final: true, Errors: f.errs, DropReasons: f.dropReasons, ConnectUs: f.connectLat}
	f.mu.Unlock()
	write(l)
	return nil
}

// children is a crowd of child processes.
type children struct {
	log    *slog.Logger
	procs  []*exec.Cmd
	stdins []io.WriteCloser
	mu     sync.Mutex
	last   []childLine
	ramped []chan struct{}
	final  []chan struct{}
}

func startChildren(ctx context.Context, cfg Config, log *slog.Logger, runID string) (*children, error) {
	n := (cfg.Clients + cfg.PerProcess - 1) / cfg.PerProcess
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ch := &children{log: log, last: make([]childLine, n)}
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
		ch.mu.Lock()
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
	}
	return s
}

func (ch *children) finish(res *Result) {
	ch.stop()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	mergeChildren(res, ch.last)
}

// mergeChildren adds the children's final tallies to res.
func mergeChildren(res *Result, lines []childLine) {
	s := sumCounts(lines)
	res.Connected, res.Failed, res.Disconnects = s.Connected, s.Failed, s.Disconnects
	res.ConnectErrors, res.DropReasons = map[string]int{}, map[string]int{}
	var lat []int64
	for _, l := range lines {
		for k, v := range l.Errors {
			res.ConnectErrors[k] += v
		}
		for k, v := range l.DropReasons {
			res.DropReasons[k] += v
		}
		lat = append(lat, l.ConnectUs...)
	}
	res.ConnectMs = stats.Summarize(lat)
	res.Processes = len(lines)
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
