package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is one load test run, from the command line.
type Config struct {
	Scenario  string
	Targets   []*url.URL // base URLs of the nodes: http://host:port
	APIKey    string
	JWTSecret string

	Clients  int
	Rate     float64 // pushes per second, summed over targets
	Duration time.Duration
	Out      string

	ConnectRate        float64       // new connections per second while ramping
	ConnectConcurrency int           // handshakes in flight at once
	ConnectTimeout     time.Duration // one handshake
	SourceIPs          int           // dial from 127.0.0.1..127.0.0.N (loopback targets only)
	Settle             time.Duration // least idle time between ramp and pushes
	QuietCalls         float64       // after Settle, wait until Redis serves fewer calls/s than this
	Baseline           time.Duration // idle window measured as the Redis baseline
	Grace              time.Duration // wait for stragglers after the last push
	TTL                int           // ttl of each push, seconds
	PushWorkers        int           // concurrent push API requests
	RedisAddr          string        // host:port for INFO commandstats; empty = not measured
	AllowRemote        bool
	LogLevel           string

	// The cmd scenario (cmd.go).
	CmdName    string        // "/pkg.Service/Method"
	Direct     string        // tRPC backend host:port for the baseline; empty = node only
	CmdTimeout time.Duration // an ack later than this is a timeout
	Warmup     time.Duration // sent at the rate before each measured phase, not counted
	Pad        int           // bytes of padding in each command's data
	SendersN   int           // goroutines pacing the commands
	WatchPIDs  pidList       // processes whose CPU time is reported per phase

	// connect: how many clients one process holds before the run splits
	// into child processes (each with its own source addresses); the
	// hidden --child I/N and --run-id are what the parent passes its children.
	PerProcess int
	ChildIndex int
	ChildCount int
	RunID      string

	// reconnect (reconnect.go)
	Mode          string        // drop: we close every connection; kill: --kill-cmd, then --restart-cmd
	KillCmd       string        // shell command that kills a node
	RestartCmd    string        // shell command that starts it again (run in the background)
	Down          time.Duration // between the kill and the restart; pushes go out meanwhile
	ReconnectWait time.Duration // bound on waiting for everyone to be back and replayed
	PushRetry     time.Duration // how long one push is retried (same id) while no target accepts it
	RollTimeout   time.Duration // --mode roll: bound on the whole rolling restart; sizes the push table
	OfflineLimit  time.Duration // a client away longer than this after a drop counts in offline.over_limit
	DeliverWithin time.Duration // an accepted push received later than this after its request counts as late

	Progress string   // auto, bars, log, off
	Args     []string // as parsed: what child processes are started with
}

// targetList is a repeatable flag that also takes comma-separated lists.
type targetList []string

func (t *targetList) String() string { return strings.Join(*t, ",") }
func (t *targetList) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*t = append(*t, s)
		}
	}
	return nil
}

// parseConfig reads `SCENARIO [flags]`.
func parseConfig(args []string) (Config, error) {
	var c Config
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return c, errors.New("usage: loadtest SCENARIO --target http://HOST:PORT --api-key K --jwt-secret S [flags]; scenarios: push, cmd; or loadtest trpc-echo --listen HOST:PORT")
	}
	c.Scenario = args[0]
	c.Args = args
	fs := flag.NewFlagSet("loadtest "+c.Scenario, flag.ContinueOnError)
	var targets targetList
	fs.Var(&targets, "target", "node base URL, repeatable or comma-separated (http://127.0.0.1:8081)")
	fs.StringVar(&c.APIKey, "api-key", "", "push API key")
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "HS256 secret for client tokens")
	fs.IntVar(&c.Clients, "clients", 1000, "connections to open, round-robin over targets")
	fs.Float64Var(&c.Rate, "rate", 100, "pushes per second, round-robin over targets")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "length of the push phase")
	fs.StringVar(&c.Out, "out", "loadtest-out", "directory for result.json")
	fs.Float64Var(&c.ConnectRate, "connect-rate", 1000, "new connections per second while ramping")
	fs.IntVar(&c.ConnectConcurrency, "connect-concurrency", 200, "handshakes in flight at once")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 15*time.Second, "bound of one handshake")
	fs.IntVar(&c.SourceIPs, "source-ips", 4, "dial from 127.0.0.1..127.0.0.N so ephemeral ports never run out (0 = kernel's choice)")
	fs.DurationVar(&c.Settle, "settle", 2*time.Second, "least idle time after the ramp, before pushing")
	fs.Float64Var(&c.QuietCalls, "quiet-calls", 2000, "with --redis: after --settle, wait (at most 1m) until Redis serves fewer calls/s than this")
	fs.DurationVar(&c.Baseline, "baseline", 5*time.Second, "with --redis: idle window measured before pushing, subtracted from the push window")
	fs.DurationVar(&c.Grace, "grace", 5*time.Second, "wait for late messages after the last push")
	fs.IntVar(&c.TTL, "ttl", 60, "ttl of each push in seconds (0 = fire-and-forget)")
	fs.IntVar(&c.PushWorkers, "push-workers", 64, "concurrent push API requests")
	fs.StringVar(&c.RedisAddr, "redis", "", "redis host:port to read INFO commandstats from (round trips per push); empty = skip")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow targets that are not loopback")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.CmdName, "name", "/bench.echo.Echo/Say", "cmd: the command, /pkg.Service/Method")
	fs.StringVar(&c.Direct, "direct", "", "cmd: tRPC backend host:port; first the same rate goes straight to it (the baseline), then through the node")
	fs.DurationVar(&c.CmdTimeout, "cmd-timeout", 5*time.Second, "cmd: an answer later than this counts as a timeout")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "cmd: commands sent at the rate before each measured phase and not counted")
	fs.IntVar(&c.Pad, "pad", 32, "cmd: bytes of padding in each command's data")
	fs.IntVar(&c.SendersN, "senders", 4, "cmd: goroutines pacing the commands")
	fs.Var(&c.WatchPIDs, "watch-pid", "cmd: NAME=PID of a local process (node, backend) whose CPU seconds are reported per phase; repeatable")
	fs.IntVar(&c.PerProcess, "per-process", 18000, "connect: most clients one process holds (20,000 open files); more are split over child processes")
	fs.StringVar(&c.RunID, "run-id", "", "user names are lt-<run id>-<i>; default random (children get the parent's)")
	child := fs.String("child", "", "internal: I/N, this process is child I of N of a connect run")
	fs.StringVar(&c.Mode, "mode", "drop", "reconnect: drop (close every connection), kill (--kill-cmd, then --restart-cmd) or roll (SIGTERM, restart, ready, one node after the other: `loadtest cluster` only)")
	fs.StringVar(&c.KillCmd, "kill-cmd", "", "reconnect --mode kill: shell command that kills a node (sh -c)")
	fs.StringVar(&c.RestartCmd, "restart-cmd", "", "reconnect --mode kill: shell command that starts it again, run in the background")
	fs.DurationVar(&c.Down, "down", 5*time.Second, "reconnect: time between the kill (or drop) and the restart; pushes go out meanwhile")
	fs.DurationVar(&c.PushRetry, "push-retry", 30*time.Second, "reconnect: retry a push no target accepted (same idempotency id, pausing 0.1 s doubling to 2 s) for this long; 0 = one try per target")
	fs.DurationVar(&c.ReconnectWait, "reconnect-wait", 2*time.Minute, "reconnect: bound on waiting until every client is back and replayed")
	fs.DurationVar(&c.RollTimeout, "roll-timeout", 5*time.Minute, "reconnect --mode roll: bound on the whole rolling restart; pushes go on at --rate until it is done")
	fs.DurationVar(&c.OfflineLimit, "offline-limit", 5*time.Second, "reconnect: a client without a connection longer than this after a drop counts in offline.over_limit")
	fs.DurationVar(&c.DeliverWithin, "deliver-within", 5*time.Second, "reconnect: an accepted push received later than this after its request counts in delivery_deadline.late")
	fs.StringVar(&c.Progress, "progress", "auto", "auto (bars on a terminal, log lines otherwise), bars, log or off")
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *child != "" {
		if _, err := fmt.Sscanf(*child, "%d/%d", &c.ChildIndex, &c.ChildCount); err != nil || c.ChildIndex < 0 || c.ChildIndex >= c.ChildCount {
			return c, fmt.Errorf("--child %q: want I/N", *child)
		}
	}
	for _, t := range targets {
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("--target %q: want http(s)://host:port", t)
		}
		c.Targets = append(c.Targets, u)
	}
	return c, c.Validate()
}

// Validate checks the run is complete and bounded, and that it aims at this
// machine unless told otherwise: a load test pointed at the wrong host is an
// attack on it.
func (c Config) Validate() error {
	switch {
	case len(c.Targets) == 0:
		return errors.New("--target is required")
	case c.APIKey == "" || c.JWTSecret == "":
		return errors.New("--api-key and --jwt-secret are required")
	case c.Clients < 1 || c.Rate <= 0 || c.Duration <= 0 || c.ConnectRate <= 0 || c.ConnectConcurrency < 1 || c.PushWorkers < 1:
		return errors.New("--clients, --rate, --duration, --connect-rate, --connect-concurrency and --push-workers must be positive")
	case c.Duration > time.Hour || c.Grace > 10*time.Minute || c.Settle > 10*time.Minute || c.Baseline > 10*time.Minute:
		return errors.New("--duration is at most 1h, --grace, --settle and --baseline at most 10m: a run must end by itself")
	case c.SourceIPs < 0 || c.SourceIPs > 250:
		return errors.New("--source-ips is 0..250")
	case c.Scenario == "cmd" && (c.CmdTimeout <= 0 || c.CmdTimeout > time.Minute || c.Warmup < 0 || c.Warmup > time.Minute ||
		c.Pad < 0 || c.Pad > 1<<20 || c.SendersN < 1):
		return errors.New("cmd: --cmd-timeout is in (0, 1m], --warmup in [0, 1m], --pad in [0, 1MiB], --senders positive")
	case c.PerProcess < 1 || c.PerProcess > 19500:
		return errors.New("--per-process is 1..19500 (20,000 open files per process)")
	case (c.ChildCount+1)*max(c.SourceIPs, 1) > 250:
		return errors.New("--source-ips × child processes must stay under 250 addresses of 127.0.0.0/24")
	case c.Scenario == "reconnect" && c.Mode != "drop" && c.Mode != "kill" && c.Mode != "roll":
		return errors.New("--mode is drop, kill or roll")
	case c.Scenario == "reconnect" && c.Mode == "kill" && c.KillCmd == "":
		return errors.New("--mode kill needs --kill-cmd (and usually --restart-cmd)")
	case c.Down < 0 || c.Down > 10*time.Minute || c.ReconnectWait <= 0 || c.ReconnectWait > 30*time.Minute ||
		c.PushRetry < 0 || c.PushRetry > 10*time.Minute:
		return errors.New("--down and --push-retry are at most 10m, --reconnect-wait in (0, 30m]")
	case c.RollTimeout <= 0 || c.RollTimeout > 30*time.Minute || c.OfflineLimit < 0 || c.DeliverWithin < 0:
		return errors.New("--roll-timeout is in (0, 30m], --offline-limit and --deliver-within not negative")
	case c.Scenario == "reconnect" && c.Mode == "roll" && c.Rate*c.RollTimeout.Seconds() > 5e6:
		return errors.New("--rate × --roll-timeout is at most 5,000,000 pushes (the audit holds a record of each)")
	case c.Scenario == "cmd" && !validCmdName(c.CmdName):
		return fmt.Errorf("--name %q: want /pkg.Service/Method", c.CmdName)
	}
	if c.AllowRemote {
		return nil
	}
	for _, u := range c.Targets {
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("--target %s is not loopback; pass --allow-remote to load another machine", u)
		}
	}
	if c.RedisAddr != "" {
		host, _, err := net.SplitHostPort(c.RedisAddr)
		if err != nil || !isLoopback(host) {
			return fmt.Errorf("--redis %q is not a loopback host:port; pass --allow-remote", c.RedisAddr)
		}
	}
	if c.Direct != "" {
		host, _, err := net.SplitHostPort(c.Direct)
		if err != nil || !isLoopback(host) {
			return fmt.Errorf("--direct %q is not a loopback host:port; pass --allow-remote", c.Direct)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// wsURL is the socket.io WebSocket URL of a target.
func wsURL(u *url.URL) string {
	scheme := "ws"
	if u.Scheme == "https" {
		scheme = "wss"
	}
	return scheme + "://" + u.Host + "/socket.io/?EIO=4&transport=websocket"
}

// deadline bounds the whole run: ramp at the configured rate with slack,
// then settle, pushes and grace, then a margin for writing the result.
func (c Config) deadline() time.Duration {
	ramp := time.Duration(float64(c.Clients)/c.ConnectRate*2*float64(time.Second)) + c.ConnectTimeout + 30*time.Second
	load := c.Duration + c.Grace
	if c.Scenario == "cmd" { // up to two phases, each warmup + duration + the last answers
		load = 2 * (c.Warmup + c.Duration + c.CmdTimeout + time.Second)
	}
	switch c.Scenario {
	case "connect": // settling of the servers' memory is bounded by a minute
		load += time.Minute
	case "reconnect":
		load += c.Down + c.ReconnectWait + c.PushRetry
		if c.Mode == "roll" {
			load += c.RollTimeout
		} else { // one push per client
			load += time.Duration(float64(c.Clients) / c.Rate * float64(time.Second))
		}
	}
	return ramp + c.Settle + time.Minute + c.Baseline + load + 30*time.Second
}
