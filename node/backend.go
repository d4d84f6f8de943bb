package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"courier/node/api"
	"courier/node/command"
	"courier/node/errcode"
	"courier/router/trpc"
)

// trpcBackend makes the command channel's calls with the pooled tRPC
// clients, and tells the router what kind of failure each error is.
type trpcBackend struct{ pool *trpc.Pool }

func newBackend(cfg Config, log *slog.Logger) (command.Backend, func(), error) {
	pool, err := trpc.NewPool(trpc.PoolConfig{Caller: "trpc.courier.node." + cfg.NodeID, CallTimeout: cfg.CallTimeout,
		Log: log.With("component", "trpc-pool")})
	if err != nil {
		return nil, nil, err
	}
	return trpcBackend{pool: pool}, func() { _ = pool.Close() }, nil
}

func (b trpcBackend) Invoke(ctx context.Context, addr string, inv command.Invocation) (command.Result, error) {
	res, err := b.pool.Call(ctx, addr, &trpc.CallRequest{
		Callee: inv.Callee, Func: inv.Func, Body: inv.Body, ContentType: trpc.ContentTypeJSON,
		TransInfo: inv.TransInfo, Timeout: inv.Timeout,
	})
	var te *trpc.Error
	switch {
	case errors.As(err, &te):
		return command.Result{Ret: te.Ret, FuncRet: te.FuncRet, Msg: te.Msg}, nil
	case errors.Is(err, trpc.ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
		return command.Result{}, fmt.Errorf("%w: %v", command.ErrTimeout, err)
	case err != nil:
		return command.Result{}, fmt.Errorf("%w: %v", command.ErrUnavailable, err)
	case res.Ret != 0 || res.FuncRet != 0:
		return command.Result{Ret: res.Ret, FuncRet: res.FuncRet, Msg: res.ErrorMsg}, nil
	}
	return command.Result{Body: res.Body}, nil
}

// TRPCAddr is where the tRPC push service listens ("" without --trpc-listen).
func (n *Node) TRPCAddr() string {
	srv := n.trpcServer.Load()
	if srv == nil {
		return ""
	}
	return srv.Addr().String()
}

// pushFunc is the func backends call to push over tRPC (SPEC: command channel).
const pushFunc = "/trpc.courier.push.Push/Send"

// startTRPC serves the push service on --trpc-listen: the JSON request and
// answer of POST /v1/push, errors as tRPC func_ret with the API's message.
func (n *Node) startTRPC() error {
	if n.cfg.TRPCListen == "" {
		return nil
	}
	srv, err := trpc.NewServer(trpc.ServerConfig{Listen: n.cfg.TRPCListen, Log: n.log.With("component", "trpc-server")},
		map[string]trpc.Handler{pushFunc: n.trpcPush})
	if err != nil {
		return fmt.Errorf("--trpc-listen: %w", err)
	}
	n.trpcServer.Store(srv)
	n.log.Info("tRPC push service listening", "addr", srv.Addr(), "func", pushFunc)
	return nil
}

// Func return codes of the push service: the API's HTTP status, so a
// backend tells a bad request (400) from a store outage (503).
func (n *Node) trpcPush(ctx context.Context, req *trpc.ServerRequest) *trpc.ServerResponse {
	var push api.PushRequest
	if err := json.Unmarshal(req.Body, &push); err != nil {
		return pushError(errcode.New(errcode.BadRequest, "request is not a push: "+err.Error()))
	}
	if len(push.Data) > n.cfg.MaxDataBytes {
		return pushError(errcode.New(errcode.TooLarge, fmt.Sprintf("data is over the limit of %d bytes", n.cfg.MaxDataBytes)))
	}
	res, err := n.Push(ctx, &push)
	var e *errcode.Error
	switch {
	case errors.As(err, &e):
		return pushError(e)
	case err != nil:
		n.log.Error("tRPC push failed", "err", err)
		return pushError(errcode.New(errcode.Internal, "internal error"))
	}
	body, _ := json.Marshal(res)
	return &trpc.ServerResponse{Body: body, ContentType: trpc.ContentTypeJSON}
}

func pushError(e *errcode.Error) *trpc.ServerResponse {
	body, _ := json.Marshal(map[string]*errcode.Error{"error": e})
	return &trpc.ServerResponse{FuncRet: int32(e.Code.HTTPStatus()), ErrorMsg: string(e.Code) + ": " + e.Message,
		Body: body, ContentType: trpc.ContentTypeJSON}
}
