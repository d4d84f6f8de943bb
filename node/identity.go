package node

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"courier/node/auth"
	"courier/node/authhook"
	"courier/node/command"
	"courier/node/engine"
	"courier/node/errcode"
)

// Who a client is: its courier token when valid, else what the auth hook
// says (SPEC "Identity and integration").

func newAuthHook(cfg Config, caller *command.TRPC, log *slog.Logger) (*authhook.Hook, error) {
	if cfg.AuthHook == "" {
		return nil, nil
	}
	return authhook.New(authhook.Config{URL: cfg.AuthHook, Headers: cfg.AuthHookHeaders, Timeout: cfg.AuthHookTimeout, Caller: caller, Log: log})
}

// errNoTokenCheck: the node verifies no tokens (the auth hook alone).
var errNoTokenCheck = errors.New("this node takes no courier tokens")

func (n *Node) verifyTokenClaims(token string) (auth.Claims, error) {
	if n.tokens == nil {
		return auth.Claims{}, errNoTokenCheck
	}
	return n.tokens.Verify(token, time.Now())
}

func (n *Node) verifyToken(token string) (string, error) {
	c, err := n.verifyTokenClaims(token)
	return c.Sub, err
}

// identify is the handshake's user: its token's claims, or the hook's
// answer as claims when the token is missing or not valid and a hook is
// set. The error is the connect_error to send.
func (n *Node) identify(hs *engine.Handshake, ip string) (auth.Claims, error) {
	token, _ := hs.Auth["token"].(string)
	claims, err := n.verifyTokenClaims(token)
	if err == nil {
		return claims, nil
	}
	if n.hook == nil {
		n.metrics.refused.WithLabelValues("token").Inc()
		return claims, &engine.ConnectError{Message: "unauthorized: " + err.Error(), Data: map[string]any{"code": 401}}
	}
	ctx, cancel := context.WithCancel(n.ctx)
	defer cancel()
	a, err := n.hook.Authenticate(ctx, n.hook.Describe(hs.Header, ip, hs.Auth, hs.Query))
	if err != nil {
		return auth.Claims{}, n.hookRefusal(err)
	}
	return claimsOf(a, time.Now()), nil
}

// hookRefusal is the connect_error of a hook's refusal or failure.
func (n *Node) hookRefusal(err error) error {
	if status, ok := authhook.IsRefused(err); ok {
		n.metrics.refused.WithLabelValues("hook_refused").Inc()
		return &engine.ConnectError{Message: "unauthorized by the auth hook", Data: map[string]any{"code": status}}
	}
	n.metrics.refused.WithLabelValues("hook_unavailable").Inc()
	n.log.Warn("auth hook failed", "err", err)
	return &engine.ConnectError{Message: "authentication unavailable; retry", Data: map[string]any{"code": 503}}
}

func claimsOf(a authhook.Answer, now time.Time) auth.Claims {
	c := auth.Claims{Sub: a.User, Rooms: a.Rooms}
	if a.ExpiresIn > 0 {
		c.Exp = float64(now.Add(time.Duration(a.ExpiresIn*float64(time.Second))).UnixMilli()) / 1000
	}
	return c
}

// authenticateRequest is a /v1/call request's user when it carries no
// client JWT: the auth hook's answer about its headers (cookies).
func (n *Node) authenticateRequest(r *http.Request) (string, error) {
	if n.hook == nil {
		return "", errcode.New(errcode.Unauthorized, "send Authorization: Bearer <client JWT>")
	}
	a, err := n.hook.Authenticate(r.Context(), n.hook.Describe(r.Header, n.limits.proxies.ClientIP(r), nil, r.URL.Query()))
	if status, ok := authhook.IsRefused(err); ok {
		code := errcode.Unauthorized
		if status == http.StatusForbidden {
			code = errcode.Forbidden
		}
		return "", errcode.New(code, "refused by the auth hook")
	}
	if err != nil {
		n.log.Warn("auth hook failed", "err", err)
		return "", errcode.New(errcode.Unavailable, "authentication unavailable; retry")
	}
	return a.User, nil
}
