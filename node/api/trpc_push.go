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
// push over tRPC, to callers that name one of keys (the API keys) in
// trans_info `authorization: Bearer <key>`. Errors come back as func_ret =
// the API's HTTP status (a backend tells a bad request, 400, from a store
// outage, 503, and a missing key, 401), with the API's error body.
func NewTRPCPushServer(listen string, svc Service, keys []string, log *slog.Logger) (*trpc.Server, error) {
	if len(keys) == 0 {
		return nil, errors.New("--trpc-listen: the push service needs an API key to check callers against (--api-key)")
	}
	h := trpcPush{svc: svc, keys: keys, log: log}
	srv, err := trpc.NewServer(trpc.ServerConfig{Listen: listen, Log: log}, map[string]trpc.Handler{PushFunc: h.serve})
	if err != nil {
		return nil, fmt.Errorf("--trpc-listen: %w", err)
	}
	return srv, nil
}

type trpcPush struct {
	svc  Service
	keys []string
	log  *slog.Logger
}

// AuthorizationKey is the trans_info key of the push service's API key.
const AuthorizationKey = "authorization"

func (h trpcPush) serve(ctx context.Context, req *trpc.ServerRequest) *trpc.ServerResponse {
	key, ok := matchKey(h.keys, string(req.TransInfo[AuthorizationKey]))
	if !ok {
		return trpcPushError(errcode.New(errcode.Unauthorized, "missing or bad API key: send trans_info authorization: Bearer <key>"))
	}
	var p push.Request
	if err := json.Unmarshal(req.Body, &p); err != nil {
		return trpcPushError(errcode.New(errcode.BadRequest, "request is not a push: "+err.Error()))
	}
	p.Scope = push.KeyScope(key)
	// The service checks p against the push contract (node/push).
	res, err := h.svc.Push(ctx, &p)
	var e *errcode.Error
	var conflict *push.Conflict
	switch {
	case errors.As(err, &e):
		return trpcPushError(e)
	case errors.As(err, &conflict):
		return trpcPushAnswer(conflict.Err(), conflictBody(conflict))
	case err != nil:
		h.log.Error("tRPC push failed", "err", err)
		return trpcPushError(errcode.New(errcode.Internal, "internal error"))
	}
	body, _ := json.Marshal(res)
	return &trpc.ServerResponse{Body: body, ContentType: trpc.ContentTypeJSON}
}

func trpcPushError(e *errcode.Error) *trpc.ServerResponse {
	return trpcPushAnswer(e, map[string]*errcode.Error{"error": e})
}

// trpcPushAnswer is a failed push: func_ret the HTTP status of e, and the
// API's error body.
func trpcPushAnswer(e *errcode.Error, body any) *trpc.ServerResponse {
	b, _ := json.Marshal(body)
	return &trpc.ServerResponse{FuncRet: int32(e.Code.HTTPStatus()), ErrorMsg: string(e.Code) + ": " + e.Message,
		Body: b, ContentType: trpc.ContentTypeJSON}
}
