package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"courier/router/trpc"
)

// TRPC is the Backend that calls tRPC services over router/trpc's pooled
// clients, with JSON bodies. It only classifies what came back: an answer
// with ret/func_ret, no answer in time (ErrTimeout), or no answer at all
// (ErrUnavailable); the Router words it for the client.
type TRPC struct{ pool *trpc.Pool }

var _ Backend = (*TRPC)(nil)

// NewTRPC makes the backend; caller names this node in every request.
func NewTRPC(caller string, timeout time.Duration, log *slog.Logger) (*TRPC, error) {
	pool, err := trpc.NewPool(trpc.PoolConfig{Caller: caller, CallTimeout: timeout, Log: log})
	if err != nil {
		return nil, err
	}
	return &TRPC{pool: pool}, nil
}

// Invoke implements Backend.
func (b *TRPC) Invoke(ctx context.Context, addr string, inv Invocation) (Result, error) {
	var msgType uint32
	if inv.Dyeing {
		msgType = trpc.MessageTypeDyeing
	}
	res, err := b.pool.Call(ctx, addr, &trpc.CallRequest{
		Callee: inv.Callee, Func: inv.Func, Body: inv.Body, ContentType: trpc.ContentTypeJSON,
		TransInfo: inv.TransInfo, Timeout: inv.Timeout, MessageType: msgType,
	})
	var te *trpc.Error
	switch {
	case errors.As(err, &te):
		return Result{Ret: te.Ret, FuncRet: te.FuncRet, Msg: te.Msg}, nil
	case errors.Is(err, trpc.ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
		return Result{}, fmt.Errorf("%w: %v", ErrTimeout, err)
	case err != nil:
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return Result{Ret: res.Ret, FuncRet: res.FuncRet, Msg: res.ErrorMsg, Body: res.Body}, nil
}

// CallJSON makes one JSON call for the auth hook (authhook.TRPCCaller):
// func_ret is the method's own code; a framework error is an error.
func (b *TRPC) CallJSON(ctx context.Context, addr, callee, fn string, body []byte) ([]byte, int32, error) {
	res, err := b.pool.Call(ctx, addr, &trpc.CallRequest{Callee: callee, Func: fn, Body: body, ContentType: trpc.ContentTypeJSON})
	var te *trpc.Error
	switch {
	case errors.As(err, &te) && te.Ret == 0:
		return []byte(te.Msg), te.FuncRet, nil
	case err != nil:
		return nil, 0, err
	case res.Ret != 0:
		return nil, 0, fmt.Errorf("ret %d: %s", res.Ret, res.ErrorMsg)
	}
	return res.Body, res.FuncRet, nil
}

// Close ends the pooled connections.
func (b *TRPC) Close() error { return b.pool.Close() }
