package engine

import (
	"net/http"
	"sync"

	"github.com/gobwas/ws"
)

// leanRaw is a raw Engine.IO session on the lean engine (the conformance
// server's /engine.io/ echo); it implements RawConn.
type leanRaw struct {
	c  *wconn
	mu sync.Mutex
	fn func([]byte, bool)
}

func newLeanRawMaker(onConnect func(RawConn)) func(*wconn, *http.Request) upper {
	return func(c *wconn, _ *http.Request) upper {
		rc := &leanRaw{c: c}
		onConnect(rc) // before the first read: OnMessage is set in time
		return rc
	}
}

func (r *leanRaw) ID() string { return r.c.sid }

func (r *leanRaw) Send(data []byte, binary bool) {
	if binary {
		r.c.queueFrame(ws.OpBinary, append([]byte(nil), data...))
		return
	}
	bp := getEncBuf()
	*bp = append(append(*bp, '4'), data...)
	r.c.mu.Lock()
	res := r.c.enqueueLocked(ws.OpText, nil, *bp, bp)
	r.c.mu.Unlock()
	r.c.after(res)
}

func (r *leanRaw) OnMessage(fn func([]byte, bool)) {
	r.mu.Lock()
	r.fn = fn
	r.mu.Unlock()
}

func (r *leanRaw) Close() { r.c.closeAfterFlush(reasonForced) }

func (r *leanRaw) onMessage(data []byte, binary bool) {
	r.mu.Lock()
	fn := r.fn
	r.mu.Unlock()
	if fn != nil {
		fn(append([]byte(nil), data...), binary)
	}
}

func (r *leanRaw) onTimeout()     {}
func (r *leanRaw) onClose(string) {}

// leanRoute reports a request the lean engine serves: a WebSocket upgrade
// that opens a new session (no sid). Upgrades of long-polling sessions stay
// with zishang520, which owns those sessions.
func leanRoute(r *http.Request) bool {
	return isWebSocketUpgrade(r) && r.URL.Query().Get("sid") == ""
}
