package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	eioengine "github.com/zishang520/engine.io/v2/engine"
)

// The HTTP front of the fix layer: every request passes here before the
// library sees it.

const (
	// maxPollingPacket: the library splits a polling payload with a
	// bufio.Scanner whose token limit is 64 KiB and silently drops a longer
	// packet; we refuse it instead of losing it.
	maxPollingPacket = 64*1024 - 1
	// upgradeGrace: a GET racing the UPGRADE packet of its own session waits
	// this long for the upgrade to land, so it is refused (as after an
	// upgrade) instead of being answered from the discarded transport.
	upgradeGrace = 50 * time.Millisecond
)

var (
	errBadPayload = errors.New("malformed polling payload")
	errTooLarge   = errors.New("polling payload too large")
)

func (e *eio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !e.matchPath(r.URL.Path) {
		http.NotFound(w, r)
		return
	}
	if e.cors != nil && e.cors.apply(w, r) {
		return
	}
	if e.closed.Load() {
		writeCodeMessage(w, http.StatusServiceUnavailable, 5, "Server closing")
		return
	}
	if e.pre != nil {
		var done bool
		if r, done = e.pre.route(w, r); done {
			return
		}
	}
	if isWebSocketUpgrade(r) {
		// A hijacked connection: the library owns it from here (its close is
		// fixed in closeWebSocket).
		if r.URL.Query().Get("sid") != "" {
			holdUpgradeReads(w, r, e.srv.ServeHTTP)
		} else {
			e.srv.ServeHTTP(w, r)
		}
		return
	}
	q := r.URL.Query()
	if sid := q.Get("sid"); sid != "" && q.Get("transport") == "polling" {
		if sock, ok := e.srv.Clients().Load(sid); ok {
			switch r.Method {
			case http.MethodGet:
				if waitUpgrade(sock) {
					writeCodeMessage(w, http.StatusBadRequest, 3, "Bad request")
					return
				}
			case http.MethodPost:
				if !e.checkPost(w, r, sock) {
					return
				}
			}
		}
	}
	e.serveBounded(w, r)
}

// waitUpgrade holds a polling GET while its session is upgrading, for at most
// upgradeGrace, and reports whether the session now runs on WebSocket.
func waitUpgrade(sock eioengine.Socket) bool {
	if sock.Upgrading() {
		deadline := time.Now().Add(upgradeGrace)
		for sock.Upgrading() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	return sock.Upgraded()
}

// checkPost reads and validates a polling POST body in front of the library,
// which ignores decode errors (and hangs on a binary content type). On a bad
// body the session is closed and the client gets 400; on success the body is
// put back for the library.
func (e *eio) checkPost(w http.ResponseWriter, r *http.Request, sock eioengine.Socket) bool {
	if r.ContentLength > e.cfg.MaxPayload {
		// the library answers 413 by itself
		return true
	}
	body, err := e.readPost(r)
	if err != nil {
		e.log.Debug("polling post refused", "sid", sock.Id(), "err", err)
		sock.Close(true)
		writeBadPost(w, err)
		return false
	}
	if hasClosePacket(body) {
		waitPoll(sock)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return true
}

// readPost reads a polling POST body and checks it is a valid payload of at
// most MaxPayload bytes.
func (e *eio) readPost(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, e.cfg.MaxPayload+1))
	r.Body.Close()
	if err == nil && int64(len(body)) > e.cfg.MaxPayload {
		err = errTooLarge
	}
	if err == nil && r.Header.Get("Content-Type") == "application/octet-stream" {
		err = errBadPayload
	}
	if err == nil {
		err = validatePayload(body)
	}
	return body, err
}

func writeBadPost(w http.ResponseWriter, err error) {
	if errors.Is(err, errTooLarge) {
		writeCodeMessage(w, http.StatusRequestEntityTooLarge, 3, "Bad request")
	} else {
		writeCodeMessage(w, http.StatusBadRequest, 3, "Bad request")
	}
}

// waitPoll holds a POST carrying CLOSE, for at most upgradeGrace, until the
// session's GET is pending: the client sent that GET first, and the library
// would otherwise close the session before the GET lands and refuse it
// instead of ending it with NOOP.
func waitPoll(sock eioengine.Socket) {
	deadline := time.Now().Add(upgradeGrace)
	for time.Now().Before(deadline) {
		t := sock.Transport()
		if t == nil || t.Name() != "polling" || t.Writable() || sock.ReadyState() != "open" {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func hasClosePacket(body []byte) bool {
	for p := range bytes.SplitSeq(body, []byte{0x1e}) {
		if len(p) > 0 && p[0] == '1' {
			return true
		}
	}
	return false
}

// validatePayload checks an Engine.IO v4 polling payload: packets separated
// by 0x1e, each a type digit 0-6 with text, or "b" with base64.
func validatePayload(body []byte) error {
	if len(body) == 0 {
		return errBadPayload
	}
	for p := range bytes.SplitSeq(body, []byte{0x1e}) {
		if len(p) == 0 || len(p) > maxPollingPacket {
			return errBadPayload
		}
		switch c := p[0]; {
		case c >= '0' && c <= '6':
		case c == 'b':
			if _, err := base64.StdEncoding.DecodeString(string(p[1:])); err != nil {
				return errBadPayload
			}
		default:
			return errBadPayload
		}
	}
	return nil
}

// serveBounded runs one long-polling request through the library with a
// deadline. The library keeps requests of one session concurrent and can
// leave one unanswered (a GET racing an upgrade or a close); the deadline
// ends it, and the guarded writer keeps late library writes away from a
// ResponseWriter whose handler has returned.
func (e *eio) serveBounded(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), e.cfg.RequestTimeout)
	defer cancel()
	gw := &guardedWriter{w: w, h: make(http.Header)}
	e.srv.ServeHTTP(gw, r.WithContext(ctx))
	if !gw.finish() {
		e.log.Debug("polling request ended unanswered", "method", r.Method, "query", r.URL.RawQuery, "ctx", ctx.Err())
		if r.Context().Err() == nil {
			writeCodeMessage(w, http.StatusBadRequest, 3, "Request timeout")
		}
	}
}

// guardedWriter forwards the library's response until finish; afterwards
// writes are dropped.
type guardedWriter struct {
	mu       sync.Mutex
	w        http.ResponseWriter
	h        http.Header
	wrote    bool
	finished bool
}

func (g *guardedWriter) Header() http.Header { return g.h }

func (g *guardedWriter) WriteHeader(code int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writeHeaderLocked(code)
}

func (g *guardedWriter) writeHeaderLocked(code int) {
	if g.finished || g.wrote {
		return
	}
	g.wrote = true
	dst := g.w.Header()
	for k, v := range g.h {
		dst[k] = v
	}
	g.w.WriteHeader(code)
}

func (g *guardedWriter) Write(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.finished {
		return 0, http.ErrHandlerTimeout
	}
	g.writeHeaderLocked(http.StatusOK)
	return g.w.Write(b)
}

// finish ends forwarding and reports whether a response was started.
func (g *guardedWriter) finish() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.finished = true
	return g.wrote
}

// writeCodeMessage answers like the library's own aborts.
func writeCodeMessage(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, `{"code":`+strconv.Itoa(code)+`,"message":"`+msg+`"}`)
}

func isWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
