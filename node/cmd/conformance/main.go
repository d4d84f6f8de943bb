// Command conformance is the reference server of the official socket.io v5
// and Engine.IO v4 protocol test suites, on the node's own engine code:
//
//	go run ./node/cmd/conformance --addr localhost:3000
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"courier/node/engine"
)

func main() {
	addr := flag.String("addr", "localhost:3000", "listen address")
	debug := flag.Bool("debug", false, "debug logs")
	flag.Parse()

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(*addr, log); err != nil {
		log.Error("conformance server failed", "err", err)
		os.Exit(1)
	}
}

// suiteConfig is what the official suites expect.
func suiteConfig() engine.Config {
	return engine.Config{
		PingInterval:   300 * time.Millisecond,
		PingTimeout:    200 * time.Millisecond,
		MaxPayload:     1_000_000,
		ConnectTimeout: 1000 * time.Millisecond,
	}
}

func run(addr string, log *slog.Logger) error {
	cfg := suiteConfig()
	sio, err := engine.NewSocketIO(cfg, echo{}, log.With("component", "socket.io"),
		engine.WithNamespace("/custom", authOnly{}))
	if err != nil {
		return err
	}
	rawCfg := cfg
	rawCfg.Path = "/engine.io/"
	eio, err := engine.NewEngineIO(rawCfg, func(c engine.RawConn) {
		c.OnMessage(func(data []byte, binary bool) { c.Send(data, binary) })
	}, log.With("component", "engine.io"))
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", sio)
	mux.Handle("/engine.io/", eio)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("conformance server listening", "addr", addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sio.Close()
	eio.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// echo serves "/": emit the handshake auth, echo "message", ack "message-with-ack".
type echo struct{}

func (echo) Authenticate(hs *engine.Handshake) (any, error) { return hs.Auth, nil }

func (echo) Connected(c engine.Conn, auth any) {
	c.OnEvent(func(event string, args []any, ack func(...any)) {
		switch event {
		case "message":
			c.Emit("message-back", args, nil)
		case "message-with-ack":
			if ack != nil {
				ack(args...)
			}
		}
	})
	c.Emit("auth", []any{auth}, nil)
}

// authOnly serves "/custom": emit the handshake auth.
type authOnly struct{}

func (authOnly) Authenticate(hs *engine.Handshake) (any, error) { return hs.Auth, nil }

func (authOnly) Connected(c engine.Conn, auth any) { c.Emit("auth", []any{auth}, nil) }
