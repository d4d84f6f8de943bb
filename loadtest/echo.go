package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"courier/router/trpc"
)

// echoConfig is `loadtest trpc-echo`: the backend of the cmd scenario.
type echoConfig struct {
	Listen      string
	Funcs       []string
	Duration    time.Duration // 0 = until SIGINT/SIGTERM
	AllowRemote bool
}

func parseEcho(args []string) (echoConfig, error) {
	var c echoConfig
	fs := flag.NewFlagSet("loadtest trpc-echo", flag.ContinueOnError)
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8000", "tRPC listen address")
	funcs := fs.String("func", "/bench.echo.Echo/Say", "comma-separated funcs to answer (/pkg.Service/Method)")
	fs.DurationVar(&c.Duration, "duration", 0, "stop after this long (0 = on SIGINT/SIGTERM only)")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow a listen address that is not loopback")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for f := range strings.SplitSeq(*funcs, ",") {
		if f = strings.TrimSpace(f); f != "" {
			if !validCmdName(f) {
				return c, fmt.Errorf("--func %q: want /pkg.Service/Method", f)
			}
			c.Funcs = append(c.Funcs, f)
		}
	}
	host, _, err := net.SplitHostPort(c.Listen)
	switch {
	case len(c.Funcs) == 0:
		return c, errors.New("--func: at least one")
	case err != nil:
		return c, fmt.Errorf("--listen %q: %w", c.Listen, err)
	case !c.AllowRemote && !isLoopback(host):
		return c, fmt.Errorf("--listen %q is not loopback; pass --allow-remote", c.Listen)
	case c.Duration < 0:
		return c, errors.New("--duration must not be negative")
	}
	return c, nil
}

// runEcho serves each func with an echo of the request's body, at once: the
// cheapest possible backend, so what a cmd run measures is the path to it.
// router/trpc's Server dispatches on the exact func name (no wildcard), hence
// the list of funcs rather than "anything under a callee".
func runEcho(args []string) error {
	cfg, err := parseEcho(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	echo := func(_ context.Context, req *trpc.ServerRequest) *trpc.ServerResponse {
		return &trpc.ServerResponse{Body: req.Body} // content type: the request's (JSON)
	}
	handlers := map[string]trpc.Handler{}
	for _, f := range cfg.Funcs {
		handlers[f] = echo
	}
	srv, err := trpc.NewServer(trpc.ServerConfig{Listen: cfg.Listen, Log: log}, handlers)
	if err != nil {
		return err
	}
	log.Info("trpc-echo listening", "addr", srv.Addr(), "funcs", cfg.Funcs, "duration", cfg.Duration)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	<-ctx.Done()
	log.Info("trpc-echo stopping", "why", context.Cause(ctx))
	return srv.Close()
}
