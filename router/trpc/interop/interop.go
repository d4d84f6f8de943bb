// Package interop proves that courier's own tRPC code (courier/router/trpc)
// speaks the same wire protocol as the real tRPC-Go, pinned at v1.1.0.
//
// It is a module of its own so that the main module never depends on
// tRPC-Go. Its helpers start real tRPC-Go servers and make real tRPC-Go
// client calls, configured in code only: nothing reads trpc_go.yaml (that
// happens only in trpc.NewServer / trpc.LoadGlobalConfig, never called
// here), no admin server, no naming service; targets are "ip://host:port".
package interop

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"trpc.group/trpc-go/trpc-go/client"
	"trpc.group/trpc-go/trpc-go/codec"
	"trpc.group/trpc-go/trpc-go/log"
	"trpc.group/trpc-go/trpc-go/server"
	"trpc.group/trpc-go/trpc-go/transport"

	// The root package registers the "trpc" codec and framer.
	_ "trpc.group/trpc-go/trpc-go"
)

// QuietLogs keeps tRPC-Go's own logger (a process-wide default) to errors,
// so test output stays readable. Call it from TestMain.
func QuietLogs() {
	log.SetLogger(log.NewZapLog(log.Config{{Writer: "console", Level: "error"}}))
}

// JSONMethod serves one method of a real tRPC-Go service with a JSON body
// and no .proto: req is the request body decoded as JSON (any); the answer
// is encoded as JSON. Return errs.New(code, msg) for a func_ret error, or
// errs.NewFrameError for a framework (ret) one. trpc.GetMetaData(ctx, key)
// reads the request's trans_info.
type JSONMethod func(ctx context.Context, req any) (any, error)

// StartJSONServer runs a real tRPC-Go server on 127.0.0.1, a free port,
// serving service (e.g. "trpc.app.echo.Echo") with methods keyed by their
// func name ("/trpc.app.echo.Echo/Say"). It returns the address; the server
// stops at the end of the test.
func StartJSONServer(t testing.TB, service string, methods map[string]JSONMethod) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := server.New(
		server.WithServiceName(service),
		server.WithProtocol("trpc"),
		server.WithNetwork("tcp"),
		server.WithListener(ln),
		server.WithAddress(ln.Addr().String()),
		// The plain Go net transport: it takes our listener as is, and tnet
		// (trpc-go's default on linux/amd64) dies under -race with
		// "checkptr: misaligned pointer conversion" in its epoll poller.
		server.WithTransport(transport.NewServerTransport()),
		// Handle the requests of one connection concurrently, as services
		// configured by trpc_go.yaml do by default (server_async).
		server.WithServerAsync(true),
	)
	desc := &server.ServiceDesc{ServiceName: service, HandlerType: nil}
	for name, m := range methods {
		desc.Methods = append(desc.Methods, server.Method{Name: name, Func: jsonHandler(m)})
	}
	if err := svc.Register(desc, nil); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- svc.Serve() }()
	t.Cleanup(func() {
		_ = svc.Close(nil)
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Error("tRPC-Go server did not stop")
		}
	})
	return ln.Addr().String()
}

// jsonHandler adapts a JSONMethod to tRPC-Go's generated-code shape: the
// filter func unmarshals the body with the request's serializer (JSON for
// content type 2) and runs the server filters around the method.
func jsonHandler(m JSONMethod) func(svr any, ctx context.Context, f server.FilterFunc) (any, error) {
	return func(_ any, ctx context.Context, f server.FilterFunc) (any, error) {
		req := new(any)
		filters, err := f(req)
		if err != nil {
			return nil, err
		}
		return filters.Filter(ctx, req, func(ctx context.Context, reqBody any) (any, error) {
			return m(ctx, *reqBody.(*any))
		})
	}
}

// Invoke makes one real tRPC-Go client call with JSON serialization to
// addr: callee "trpc.x.y.Service", method "/trpc.x.y.Service/Method". rsp
// is decoded from the answer's JSON; meta goes out as trans_info.
func Invoke(ctx context.Context, addr, callee, method string, req, rsp any, meta map[string][]byte) error {
	ctx, msg := codec.WithNewMessage(ctx)
	msg.WithClientRPCName(method)
	msg.WithCalleeServiceName(callee)
	msg.WithCallerServiceName("trpc.courier.interop.Client")
	opts := []client.Option{
		client.WithTarget("ip://" + addr),
		client.WithProtocol("trpc"),
		client.WithNetwork("tcp"),
		client.WithTransport(transport.DefaultClientTransport), // not tnet: see StartJSONServer
		client.WithSerializationType(codec.SerializationTypeJSON),
		client.WithTimeout(5 * time.Second),
	}
	for k, v := range meta {
		opts = append(opts, client.WithMetaData(k, v))
	}
	if err := client.DefaultClient.Invoke(ctx, req, rsp, opts...); err != nil {
		return fmt.Errorf("trpc-go invoke %s %s: %w", addr, method, err)
	}
	return nil
}
