// Command loadtest drives a courier cluster with many socket.io clients and
// measures what they see. See README.md.
//
//	go run ./loadtest push --target http://127.0.0.1:8081,http://127.0.0.1:8082 \
//	    --api-key K --jwt-secret S --clients 10000 --rate 1000 --duration 30s --out /tmp/lt
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "trpc-echo" {
		return runEcho(args[1:])
	}
	if len(args) > 0 && args[0] == "report" {
		return rerenderReport(args[1:])
	}
	if len(args) > 0 && args[0] == "compare" {
		return runCompare(args[1:])
	}
	if len(args) > 0 && args[0] == "cluster" {
		return runCluster(args[1:])
	}
	cfg, err := parseConfig(args)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// The run ends by itself: a deadline over every phase, and Ctrl-C ends
	// it early with whatever was measured so far.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.deadline())
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Users are named per run, so a second run against the same Redis starts
	// with empty mailboxes instead of replaying the first run's leftovers.
	runID := cfg.RunID
	if runID == "" {
		var b [4]byte
		rand.Read(b[:])
		runID = hex.EncodeToString(b[:])
	}
	if cfg.ChildCount > 0 {
		return runChild(ctx, cfg, log, runID, os.Stdout, os.Stdin)
	}

	if cfg.Scenario == "cmd" {
		return writeCmd(cfg, log)(runCmd(ctx, cfg, log, runID))
	}
	res, known, err := runScenario(ctx, cfg, log, runID, shellHooks(cfg, log))
	if !known {
		return fmt.Errorf("unknown scenario %q (have: connect, push, room, reconnect, cmd, compare, trpc-echo)", cfg.Scenario)
	}
	if res != nil {
		path, werr := writeResult(cfg.Out, res)
		if werr != nil {
			return werr
		}
		if _, werr := writeReport(cfg.Out, "courier loadtest: "+cfg.Scenario, []namedResult{{"", res}}); werr != nil {
			return werr
		}
		fmt.Println(strings.Join(summaryLines("", res), "\n"))
		log.Info("result", "file", path, "connected", res.Connected, "failed", res.Failed,
			"delivered", res.Delivered, "lost", res.Lost, "duplicates", res.Duplicates,
			"msgs_per_sec", res.MsgsPerSec, "p50_ms", res.LatencyMs.P50, "p99_ms", res.LatencyMs.P99,
			"p999_ms", res.LatencyMs.P999, "server_rss_bytes", res.ServerRSSBytes)
		if res.Redis != nil {
			log.Info("redis", "calls_per_push", res.Redis.CallsPerPush, "net_calls_per_push", res.Redis.NetCallsPerPush,
				"per_command", res.Redis.PerPush)
		}
	}
	return err
}

// writeCmd writes the cmd scenario's result (also a partial one, after an
// error or Ctrl-C) and prints its summary lines on stdout.
func writeCmd(cfg Config, log *slog.Logger) func(*CmdResult, error) error {
	return func(res *CmdResult, err error) error {
		if res == nil {
			return err
		}
		path, werr := writeResult(cfg.Out, res)
		if werr != nil {
			return werr
		}
		log.Info("result", "file", path, "connected", res.Connected, "failed", res.Failed)
		for _, l := range cmdSummaryLines(res) {
			fmt.Println(l)
		}
		return err
	}
}

// runScenario runs the scenario cfg names (connect, push, room or
// reconnect, whose kill or roll h carries out); known is false for any
// other name, which the caller reports in its own words.
func runScenario(ctx context.Context, cfg Config, log *slog.Logger, runID string, h hooks) (res *Result, known bool, err error) {
	switch cfg.Scenario {
	case "push":
		res, err = runPush(ctx, cfg, log, runID)
	case "connect":
		res, err = runConnect(ctx, cfg, log, runID)
	case "room":
		res, err = runRoom(ctx, cfg, log, runID)
	case "reconnect":
		res, err = runReconnect(ctx, cfg, log, runID, h)
	default:
		return nil, false, nil
	}
	return res, true, err
}
