package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// HTTP is the Backend of routes whose address is an http:// or https:// URL:
// a command becomes a JSON POST to URL + "/pkg.Service/Method", its
// trans_info entries as headers X-Courier-<Key> ("courier-user" as
// X-Courier-User, "trpc-dyeing-key" as X-Courier-Trpc-Dyeing-Key). A 2xx JSON
// answer is the result; any other status is an error carrying it as
// func_ret, so an existing HTTP interface becomes a command unchanged.
type HTTP struct{ client *http.Client }

var _ Backend = (*HTTP)(nil)

// maxHTTPAnswer bounds a backend's answer (as a tRPC frame is bounded).
const maxHTTPAnswer = 4 << 20

// NewHTTP makes the backend; timeouts come from each call's context.
func NewHTTP() *HTTP {
	return &HTTP{client: &http.Client{Transport: &http.Transport{
		Proxy:               nil, // a backend is called directly, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}}
}

// IsHTTPAddr reports a route address served by HTTP.
func IsHTTPAddr(addr string) bool {
	return strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://")
}

// HeaderOf is the HTTP header carrying trans_info key k.
func HeaderOf(k string) string {
	return "X-Courier-" + http.CanonicalHeaderKey(strings.TrimPrefix(k, "courier-"))
}

// Invoke implements Backend.
func (b *HTTP) Invoke(ctx context.Context, addr string, inv Invocation) (Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(addr, "/")+inv.Func, bytes.NewReader(inv.Body))
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for k, v := range inv.TransInfo {
		req.Header.Set(HeaderOf(k), string(v))
	}
	res, err := b.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Result{}, fmt.Errorf("%w: %v", ErrTimeout, err)
		}
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxHTTPAnswer+1))
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return Result{}, fmt.Errorf("%w: reading the answer", ErrTimeout)
	case err != nil:
		return Result{}, fmt.Errorf("%w: reading the answer: %v", ErrUnavailable, err)
	case len(body) > maxHTTPAnswer:
		return Result{FuncRet: int32(res.StatusCode), Msg: "answer over " + fmt.Sprint(maxHTTPAnswer) + " bytes"}, nil
	case res.StatusCode < 200 || res.StatusCode > 299:
		return Result{FuncRet: int32(res.StatusCode), Msg: httpErrorMessage(res.Status, body)}, nil
	case len(bytes.TrimSpace(body)) == 0:
		return Result{Body: []byte("null")}, nil
	}
	return Result{Body: body}, nil
}

// httpErrorMessage is a failed answer's "message" (a JSON body's own, else
// the start of the body), or its status line.
func httpErrorMessage(status string, body []byte) string {
	var e struct {
		Message string `json:"message"`
		Error   any    `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Message != "" {
			return e.Message
		}
		if s, ok := e.Error.(string); ok && s != "" {
			return s
		}
	}
	if b := bytes.TrimSpace(body); len(b) > 0 && len(b) <= 200 && !bytes.ContainsAny(b, "<>") {
		return string(b)
	}
	return status
}
