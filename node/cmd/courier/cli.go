package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"courier/node"
)

// runFunc is node.Run; cli takes it as a parameter so tests run everything
// up to the node without starting one.
type runFunc func(ctx context.Context, cfg node.Config, log *slog.Logger) error

// cli runs one command line and returns the exit code:
// 0 done, 1 the node or command failed, 2 bad flags or config.
func cli(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, run runFunc) int {
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return exitCode(stderr, tokenCmd(args[1:], getenv, stdout, stderr, time.Now()))
		case "version":
			fmt.Fprintln(stdout, version())
			return 0
		case "check":
			return checkCmd(args[1:], getenv, stdout, stderr)
		case "help":
			usage(stdout, nodeOptions())
			return 0
		}
	}
	s, err := loadNode(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout, nodeOptions())
		return 0
	}
	if err != nil {
		return exitCode(stderr, err)
	}
	apiKey, jwtSecret, err := ensureSecrets(&s.Config, nil)
	if err != nil {
		fmt.Fprintf(stderr, "courier: %v\n", err)
		return 1
	}
	// Validate before printing: a node that will not start must not show secrets.
	if err := s.Config.Validate(); err != nil {
		fmt.Fprintf(stderr, "courier: %v\n", err)
		return 2
	}
	printDevSecrets(stdout, s.Config, apiKey, jwtSecret, selfCommand(os.Args[0]))
	if getenv("GOGC") == "" {
		debug.SetGCPercent(cmp.Or(s.GCPercent, defaultGCPercent))
	}
	// The level is a variable: PUT /v1/admin/log-level changes it.
	s.Config.LogLevel = new(slog.LevelVar)
	s.Config.LogLevel.Set(s.LogLevel)
	if err := run(ctx, s.Config, newLogger(stderr, s)); err != nil {
		fmt.Fprintf(stderr, "courier: %v\n", err)
		return 1
	}
	return 0
}

// exitCode prints err for a command-line mistake; -h is not a mistake.
func exitCode(stderr io.Writer, err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintf(stderr, "courier: %v\nrun 'courier -h' or 'courier token -h' for help\n", err)
		return 2
	}
}

func newLogger(w io.Writer, s settings) *slog.Logger {
	var level slog.Leveler = s.LogLevel
	if s.Config.LogLevel != nil {
		level = s.Config.LogLevel
	}
	opts := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// selfCommand is how the user started us, for the hints we print:
// `go run` builds into a temporary go-build directory.
func selfCommand(arg0 string) string {
	if strings.Contains(arg0, "go-build") {
		return "go run ./node/cmd/courier"
	}
	return "courier"
}

func usage(w io.Writer, opts []option) {
	fmt.Fprint(w, `usage:
  courier [flags]                run a node
  courier token --user U [...]   print a client JWT (courier token -h)
  courier version                print the build
  courier check [flags]          validate the configuration (flags, env, --config) and exit

Every flag is also an environment variable COURIER_<FLAG> (upper case, '-' -> '_')
and a key of the YAML file named by --config. Flags beat env beat file beat defaults.
Lists are comma-separated (a repeated flag adds); durations are Go syntax (300s)
or a bare number of seconds.

flags:
`)
	fs, _ := newFlagSet("courier", opts)
	for _, o := range append(opts, configOption()) {
		arg, text := flag.UnquoteUsage(fs.Lookup(o.name))
		fmt.Fprintf(w, "  --%s %s\n    \t%s", o.name, arg, text)
		if o.def != "" {
			fmt.Fprintf(w, " (default %s)", o.def)
		}
		fmt.Fprintln(w)
	}
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "courier (unknown build)"
	}
	v := "courier " + info.Main.Version
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			v += " " + s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			v += " (modified)"
		}
	}
	return v + " " + info.GoVersion
}

// checkCmd loads the node's settings (flags, COURIER_* variables, --config)
// as a start would and validates them without starting: deploy files are
// checked with it, and an operator can check a change before rolling it.
func checkCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	s, err := loadNode(args, getenv)
	if err != nil {
		return exitCode(stderr, err)
	}
	if err := s.Config.Validate(); err != nil {
		fmt.Fprintf(stderr, "courier: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout, "courier: configuration ok")
	return 0
}
