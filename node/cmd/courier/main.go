package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"courier/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // the first signal drains; a second one kills at once
	}()
	code := cli(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, node.Run)
	stop()
	os.Exit(code)
}
