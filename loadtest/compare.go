package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// `loadtest compare SCENARIO|suite [compare flags] [scenario flags]` runs
// a scenario against courier (Redis + nodes from --courier-bin) and against
// the Node socket.io peer, one after the other on fresh processes, and
// prints both with courier/node. `suite` is the README's measurement:
// connect, room, push, reconnect with the presets below.

type compareFlags struct {
	courierBin string
	peerDir    string
	out        string
	nodes      int    // courier nodes; reconnect --mode kill needs 2
	only       string // courier, node or both
	// store is courier's: "redis" (the cluster's, default) or "memory" (one
	// node on its embedded store: everything in the process, as the peer).
	store string
}

// suitePresets are the README's measurements; flags after them override.
var suitePresets = map[string][]string{
	"connect":   {"--clients", "15000", "--connect-rate", "1000", "--duration", "20s", "--settle", "3s"},
	"room":      {"--clients", "2000", "--rate", "200", "--duration", "10s", "--grace", "20s", "--settle", "2s"},
	"push":      {"--clients", "5000", "--rate", "1000", "--duration", "20s"},
	"reconnect": {"--clients", "15000", "--connect-rate", "1000", "--mode", "kill", "--down", "5s", "--rate", "3000", "--settle", "5s"},
}

var suiteOrder = []string{"connect", "room", "push", "reconnect"}

// splitCompareFlags takes the compare runner's own flags out of args.
func splitCompareFlags(args []string) (compareFlags, []string, error) {
	cf := compareFlags{peerDir: "loadtest/peers/node-socketio", out: "loadtest-compare", only: "both", store: "redis"}
	nodes := "0"
	dst := map[string]*string{"courier-bin": &cf.courierBin, "peer-dir": &cf.peerDir, "out": &cf.out,
		"only": &cf.only, "courier-nodes": &nodes, "courier-store": &cf.store}
	own, rest, err := splitOwnFlags(args, slices.Collect(maps.Keys(dst)), nil)
	if err != nil {
		return cf, nil, err
	}
	for _, f := range own {
		*dst[f.name] = f.val
	}
	n, err := strconv.Atoi(nodes)
	if err != nil || n < 0 || n > 8 {
		return cf, nil, fmt.Errorf("--courier-nodes %q: want 0..8", nodes)
	}
	cf.nodes = n
	if cf.store != "redis" && cf.store != "memory" {
		return cf, nil, fmt.Errorf("--courier-store %q: want redis or memory", cf.store)
	}
	if cf.store == "memory" && n > 1 {
		return cf, nil, errors.New("--courier-store memory is one node: in-memory nodes refuse to form a cluster")
	}
	return cf, rest, nil
}

func runCompare(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("usage: loadtest compare SCENARIO|suite --courier-bin PATH [--peer-dir DIR] [--out DIR] [--courier-nodes N] [--courier-store redis|memory] [--only courier|node|both] [scenario flags]")
	}
	cf, rest, err := splitCompareFlags(args[1:])
	if err != nil {
		return err
	}
	if cf.courierBin == "" && cf.only != "node" {
		return errors.New("--courier-bin is required (loadtest/compare.sh builds one from HEAD)")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	scenarios := []string{args[0]}
	if args[0] == "suite" {
		scenarios = suiteOrder
	}
	var summary []string
	for _, sc := range scenarios {
		scArgs := rest
		if args[0] == "suite" {
			scArgs = append(append([]string(nil), suitePresets[sc]...), rest...)
		}
		lines, err := compareOne(ctx, log, cf, sc, scArgs)
		summary = append(summary, lines...)
		if err != nil {
			log.Error("scenario failed", "scenario", sc, "err", err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	text := strings.Join(summary, "\n") + "\n"
	fmt.Print(text)
	return os.WriteFile(filepath.Join(cf.out, "summary.txt"), []byte(text), 0o644)
}

// compareOne runs sc against each side and writes DIR/SC/{courier,node}/
// and DIR/SC/report.html with both.
func compareOne(ctx context.Context, log *slog.Logger, cf compareFlags, sc string, scArgs []string) ([]string, error) {
	dir := filepath.Join(cf.out, sc)
	kill := sc == "reconnect" && slicesContainsPair(scArgs, "--mode", "kill")
	if kill && cf.store == "memory" && cf.only != "node" {
		return nil, errors.New("reconnect --mode kill needs --courier-store redis: a killed in-memory node takes its messages with it")
	}
	var runs []namedResult
	var errs []error
	for _, side := range []string{"courier", "node"} {
		if cf.only != "both" && cf.only != side {
			continue
		}
		if side == "node" && kill {
			// The peer keeps nothing for a client that is away: a kill is
			// all messages lost by design, nothing to time.
			log.Info("reconnect --mode kill runs against courier only: the socket.io peer has no replay")
			continue
		}
		res, err := runSide(ctx, log.With("side", side, "scenario", sc), cf, side, sc, scArgs, filepath.Join(dir, side))
		if err != nil {
			log.Error("side failed", "side", side, "scenario", sc, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", side, err))
		}
		if res != nil {
			runs = append(runs, namedResult{side, res})
		}
		if ctx.Err() != nil {
			break
		}
	}
	lines := []string{"== " + sc + " " + strings.Join(scArgs, " ")}
	switch {
	case len(runs) == 2:
		lines = append(lines, compareLines(runs[0].Res, runs[1].Res)...)
	case len(runs) == 1:
		lines = append(lines, summaryLines(runs[0].Name, runs[0].Res)...)
	}
	if len(runs) > 0 {
		p, err := writeReport(dir, "courier vs Node socket.io: "+sc, runs)
		if err != nil {
			errs = append(errs, err)
		}
		lines = append(lines, "report: "+p)
	}
	return lines, errors.Join(errs...)
}

// runSide starts one side's servers, runs the scenario against them,
// writes its result and report, and stops the servers.
func runSide(ctx context.Context, log *slog.Logger, cf compareFlags, side, sc string, scArgs []string, dir string) (*Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	nodes := max(cf.nodes, 1)
	if sc == "reconnect" && cf.nodes == 0 && cf.store == "redis" {
		nodes = 2 // survivors take the killed node's clients and pushes
	}
	var st *stack
	var err error
	if side == "courier" {
		if cf.store == "memory" {
			st, err = startCourierMemory(ctx, log, cf.courierBin, dir)
		} else {
			st, err = startCourier(ctx, log, cf.courierBin, dir, nodes, nodeSetup{})
		}
	} else {
		st, err = startPeer(ctx, log, cf.peerDir, dir)
	}
	if err != nil {
		return nil, err
	}
	defer st.stop()
	args := append([]string{sc}, scArgs...)
	args = append(args, "--target", strings.Join(st.targets, ","), "--api-key", cmpKey, "--jwt-secret", cmpSecret, "--out", dir)
	if sc == "reconnect" {
		// The runner kills and restarts the node itself (killHooks); the
		// flag only satisfies the check and names what happens.
		args = append(args, "--kill-cmd", "runner: SIGKILL courier-n1", "--restart-cmd", "runner: start courier-n1 again")
	}
	cfg, err := parseConfig(args)
	if err != nil {
		return nil, err
	}
	cfg.WatchPIDs = append(cfg.WatchPIDs, st.pids...)
	rctx, cancel := context.WithTimeout(ctx, cfg.deadline())
	defer cancel()
	log.Info("running", "targets", st.targets, "pids", cfg.WatchPIDs.String())
	runID := fmt.Sprintf("%s%d", side[:1], os.Getpid())
	h := hooks{}
	if sc == "reconnect" && cfg.Mode == "kill" {
		h = st.killHooks()
	}
	res, known, err := runScenario(rctx, cfg, log, runID, h)
	if !known {
		return nil, fmt.Errorf("compare runs connect, room, push, reconnect or suite, not %q", sc)
	}
	if res != nil {
		if _, werr := writeResult(dir, res); werr != nil {
			return res, werr
		}
		writeReport(dir, side+": "+sc, []namedResult{{side, res}})
	}
	return res, err
}

func slicesContainsPair(args []string, flag, val string) bool {
	for i, a := range args {
		if (a == flag || a == "-"+strings.TrimLeft(flag, "-")) && i+1 < len(args) && args[i+1] == val {
			return true
		}
		if a == flag+"="+val {
			return true
		}
	}
	return false
}
