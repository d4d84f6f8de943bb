package authhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxAnswer bounds a hook's answer.
const maxAnswer = 64 << 10

func (h *Hook) callHTTP(ctx context.Context, body []byte) (Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return Answer{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := h.http.Do(req)
	if err != nil {
		return Answer{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return Answer{}, fmt.Errorf("%w: reading its answer: %v", ErrUnavailable, err)
	}
	switch {
	case res.StatusCode == http.StatusOK:
		return accept(answer)
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return Answer{}, &Refused{Status: res.StatusCode, Message: shortMessage(answer)}
	default:
		return Answer{}, fmt.Errorf("%w: it answered %s", ErrUnavailable, res.Status)
	}
}

func (h *Hook) callTRPC(ctx context.Context, body []byte) (Answer, error) {
	answer, funcRet, err := h.cfg.Caller.CallJSON(ctx, h.trpcAddr, h.callee, h.fn, body)
	switch {
	case err != nil:
		return Answer{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	case funcRet == 401 || funcRet == 403:
		return Answer{}, &Refused{Status: int(funcRet), Message: shortMessage(answer)}
	case funcRet != 0:
		return Answer{}, fmt.Errorf("%w: func_ret %d", ErrUnavailable, funcRet)
	}
	return accept(answer)
}

func shortMessage(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// IsRefused reports a hook's 401/403 and its status.
func IsRefused(err error) (int, bool) {
	var r *Refused
	if errors.As(err, &r) {
		return r.Status, true
	}
	return 0, false
}
