package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"courier/node/errcode"
	"courier/node/push"
	"courier/router/trpc"
)

// PushFunc is the func backends call to push over tRPC (SPEC: command
// channel): its JSON request and answer are those of POST /v1/push.
const PushFunc = "/trpc.courier.push.Push/Send"

// NewTRPCPushServer serves the push service on listen for backends that
// push over tRPC. Errors come back as func_ret = the API's HTTP status (a
// backend tells a bad request, 400, from a store outage, 503), with the
// API's error body.
func NewTRPCPushServer(listen string, svc Service, log *slog.Logger) (*trpc.Server, error) {
	h := trpcPush{svc: svc, log: log}
	srv, err := trpc.NewServer(trpc.ServerConfig{Listen: listen, Log: log}, map[string]trpc.Handler{PushFunc: h.serve})
	if err != nil {
		return nil, fmt.Errorf("--trpc-listen: %w", err)
	}
	return srv, nil
}

type trpcPush struct {
	svc Service
	log *slog.Logger
}

func (h trpcPush) serve(ctx context.Context, req *trpc.ServerRequest) *trpc.ServerResponse {
	var p push.Request
	if err := json.Unmarshal(req.Body, &p); err != nil {
		return trpcPushError(errcode.New(errcode.BadRequest, "request is not a push: "+err.Error()))
	}
	// The service checks p against the push contract (node/push).
	res, err := h.svc.Push(ctx, &p)
	var e *errcode.Error
	switch {
	case errors.As(err, &e):
		return trpcPushError(e)
	case err != nil:
		h.log.Error("tRPC push failed", "err", err)
		return trpcPushError(errcode.New(errcode.Internal, "internal error"))
	}
	body, _ := json.Marshal(res)
	return &trpc.ServerResponse{Body: body, ContentType: trpc.ContentTypeJSON}
}

func trpcPushError(e *errcode.Error) *trpc.ServerResponse {
	body, _ := json.Marshal(map[string]*errcode.Error{"error": e})
	return &trpc.ServerResponse{FuncRet: int32(e.Code.HTTPStatus()), ErrorMsg: string(e.Code) + ": " + e.Message,
		Body: body, ContentType: trpc.ContentTypeJSON}
}
