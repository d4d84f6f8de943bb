package engine

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// A long-polling session that has sent no Socket.IO packet yet is a
// pre-session: a small record here instead of a library session. The library
// spends about 17 KB and two timer goroutines on every session from its
// handshake on, so 20,000 anonymous handshakes from one client took 400 MB.
// A pre-session answers the Engine.IO handshake, heartbeats and CLOSE itself,
// from a few hundred bytes and no goroutine of its own, and hands over to the
// library (a replayed handshake) at the client's first Socket.IO packet or
// WebSocket upgrade; from then on its sid is an alias of the library's.

const (
	// maxPreSessions and maxPreBytes bound the records kept (under 1 KB
	// each plus the handshake's bytes); past either a handshake is refused
	// with 503.
	maxPreSessions = 1 << 16
	maxPreBytes    = 64 << 20
	// maxPreHandshake bounds the handshake bytes a record keeps (headers and
	// query, replayed at the handover); a larger handshake goes to the
	// library at once.
	maxPreHandshake = 8 << 10
	preSweepEvery   = time.Second
)

var errPreSessionsFull = errors.New("too many sessions opening")

type preSessions struct {
	e *eio

	mu    sync.Mutex
	m     map[string]*preSession
	bytes int // the handshake bytes the records keep
	// maxCount, maxBytes: maxPreSessions, maxPreBytes (smaller in tests)
	maxCount, maxBytes int
	stop               chan struct{}
	stopOnce           sync.Once
}

type preSession struct {
	sid  string
	size int // handshake bytes kept
	// the handshake request, replayed to the library at the handover
	path, rawQuery, host, remoteAddr string
	header                           http.Header
	tls                              *tls.ConnectionState

	mu       sync.Mutex
	created  time.Time
	lastPong time.Time     // the heartbeat's origin: a ping is due an interval later
	pingSent bool          // the ping due went out on a GET
	closed   bool          // ended (by the client's CLOSE, a bad POST, an overlapping GET)
	overlap  bool          // ended by a second GET while one was held: the held one gets CLOSE
	libSID   string        // set at the handover
	held     bool          // a GET is held
	wake     chan struct{} // closed to make the held GET look again
}

// kick makes a held GET look at the session again. Call with s.mu held.
func (s *preSession) kick() {
	if s.wake != nil {
		close(s.wake)
		s.wake = nil
	}
}

func newPreSessions(e *eio) *preSessions {
	p := &preSessions{e: e, m: map[string]*preSession{}, stop: make(chan struct{}), maxCount: maxPreSessions, maxBytes: maxPreBytes}
	go p.sweep()
	return p
}

// route serves r when it is a pre-session's business. Otherwise it returns
// the request to serve, its sid rewritten to the library's after a handover.
func (p *preSessions) route(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	q := r.URL.Query()
	sid := q.Get("sid")
	if sid == "" {
		if r.Method == http.MethodGet && q.Get("EIO") == "4" && q.Get("transport") == "polling" && q.Get("j") == "" && !isWebSocketUpgrade(r) {
			if size := handshakeSize(r); size <= maxPreHandshake {
				p.open(w, r, size)
				return nil, true
			}
		}
		return r, false
	}
	p.mu.Lock()
	s := p.m[sid]
	p.mu.Unlock()
	if s == nil {
		return r, false // the library's own session, or unknown to both
	}
	var body []byte
	var bodyErr error
	if r.Method == http.MethodPost && !isWebSocketUpgrade(r) {
		body, bodyErr = p.e.readPost(r) // before the lock: a slow body holds nobody up
	}
	s.mu.Lock()
	if s.libSID == "" && s.dead(time.Now(), p.e.cfg) {
		s.mu.Unlock()
		p.forget(sid)
		writeCodeMessage(w, http.StatusBadRequest, 1, "Session ID unknown")
		return nil, true
	}
	if s.libSID == "" {
		switch {
		case isWebSocketUpgrade(r):
			if !p.handOver(s) {
				s.mu.Unlock()
				writeCodeMessage(w, http.StatusBadRequest, 1, "Session ID unknown")
				return nil, true
			}
		case q.Get("transport") != "polling":
			s.mu.Unlock()
			writeCodeMessage(w, http.StatusBadRequest, 0, "Transport unknown")
			return nil, true
		case r.Method == http.MethodGet:
			s.mu.Unlock()
			p.hold(w, r, s)
			return nil, true
		case r.Method == http.MethodPost:
			if !p.post(w, r, s, body, bodyErr) {
				s.mu.Unlock()
				return nil, true
			}
		default:
			s.mu.Unlock()
			writeCodeMessage(w, http.StatusBadRequest, 2, "Bad handshake method")
			return nil, true
		}
	}
	lib := s.libSID
	s.mu.Unlock()
	q.Set("sid", lib)
	r2 := *r
	u := *r.URL
	u.RawQuery = q.Encode()
	r2.URL = &u
	if r.Method == http.MethodPost && !isWebSocketUpgrade(r) {
		// what was read goes on, to be checked again on the library's path
		r2.Body = io.NopCloser(bytes.NewReader(body))
		r2.ContentLength = int64(len(body))
	}
	return &r2, false
}

func handshakeSize(r *http.Request) int {
	n := len(r.URL.RawQuery) + len(r.Host) + len(r.RemoteAddr)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// open answers a polling handshake with a pre-session.
func (p *preSessions) open(w http.ResponseWriter, r *http.Request, size int) {
	var b [15]byte
	_, _ = rand.Read(b[:])
	now := time.Now()
	s := &preSession{
		sid: base64.RawURLEncoding.EncodeToString(b[:]), size: size, path: r.URL.Path, rawQuery: r.URL.RawQuery, host: r.Host,
		remoteAddr: r.RemoteAddr, header: r.Header.Clone(), tls: r.TLS, created: now, lastPong: now,
	}
	p.mu.Lock()
	full := len(p.m) >= p.maxCount || p.bytes+size > p.maxBytes
	if !full {
		p.m[s.sid] = s
		p.bytes += size
	}
	p.mu.Unlock()
	if full {
		p.e.log.Debug("polling handshake refused", "err", errPreSessionsFull)
		w.Header().Set("Retry-After", "1")
		writeCodeMessage(w, http.StatusServiceUnavailable, 5, "Server busy")
		return
	}
	cfg := p.e.cfg
	open, _ := json.Marshal(map[string]any{"sid": s.sid, "upgrades": []string{"websocket"},
		"pingInterval": cfg.PingInterval.Milliseconds(), "pingTimeout": cfg.PingTimeout.Milliseconds(), "maxPayload": cfg.MaxPayload})
	writePolling(w, append([]byte{'0'}, open...))
}

// dead reports that the session ended: a ping went unanswered, or no
// Socket.IO CONNECT came within the connect timeout. Call with s.mu held.
func (s *preSession) dead(now time.Time, cfg Config) bool {
	return s.closed && !s.held || now.Sub(s.lastPong) >= cfg.PingInterval+cfg.PingTimeout || now.Sub(s.created) >= cfg.ConnectTimeout
}

// hold serves a pre-session's GET: the ping when one is due, NOOP when the
// session was handed over or closed by the client, CLOSE when it died.
func (p *preSessions) hold(w http.ResponseWriter, r *http.Request, s *preSession) {
	cfg := p.e.cfg
	s.mu.Lock()
	if s.held { // two GETs at once: the library ends such a session
		s.closed, s.overlap = true, true
		s.kick()
		s.mu.Unlock()
		p.forget(s.sid)
		writeCodeMessage(w, http.StatusBadRequest, 3, "Bad request")
		return
	}
	s.held = true
	bound := time.Now().Add(cfg.RequestTimeout) // as serveBounded bounds the library's GETs
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var answer string
		switch {
		case s.overlap:
			answer = "1"
		case s.libSID != "" || s.closed:
			answer = "6"
		case s.dead(now, cfg):
			answer = "1"
			s.closed = true
		case !s.pingSent && now.Sub(s.lastPong) >= cfg.PingInterval:
			answer = "2"
			s.pingSent = true
		}
		if answer != "" {
			s.held = false
			s.mu.Unlock()
			writePolling(w, []byte(answer))
			return
		}
		next := s.lastPong.Add(cfg.PingInterval + cfg.PingTimeout)
		if !s.pingSent {
			next = s.lastPong.Add(cfg.PingInterval)
		}
		if end := s.created.Add(cfg.ConnectTimeout); end.Before(next) {
			next = end
		}
		if !now.Before(bound) {
			s.held = false
			s.mu.Unlock()
			writeCodeMessage(w, http.StatusBadRequest, 3, "Request timeout")
			return
		}
		if bound.Before(next) {
			next = bound
		}
		if s.wake == nil {
			s.wake = make(chan struct{})
		}
		wake := s.wake
		s.mu.Unlock()
		timer.Reset(time.Until(next))
		select {
		case <-wake:
		case <-timer.C:
		case <-r.Context().Done():
			s.mu.Lock()
			s.held = false
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
	}
}

// post serves a pre-session's POST (its body read and checked), with s.mu
// held. PONG, CLOSE and NOOP are answered here; any other packet hands the
// session over and the POST goes on to the library (true).
func (p *preSessions) post(w http.ResponseWriter, r *http.Request, s *preSession, body []byte, err error) bool {
	if err != nil {
		s.closed = true
		s.kick()
		p.e.log.Debug("polling post refused", "sid", s.sid, "err", err)
		writeBadPost(w, err)
		return false
	}
	var pong, closing bool
	for pk := range bytes.SplitSeq(body, []byte{0x1e}) {
		switch pk[0] {
		case '3':
			pong = true
		case '1':
			closing = true
		case '6':
		default:
			if !p.handOver(s) {
				writeCodeMessage(w, http.StatusBadRequest, 1, "Session ID unknown")
				return false
			}
			return true
		}
	}
	if pong {
		s.lastPong, s.pingSent = time.Now(), false
	}
	if closing {
		// the client sent its GET first: let it land, so it ends with NOOP
		for deadline := time.Now().Add(upgradeGrace); !s.held && time.Now().Before(deadline); {
			s.mu.Unlock()
			time.Sleep(time.Millisecond)
			s.mu.Lock()
		}
		s.closed = true
	}
	s.kick()
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", "2")
	io.WriteString(w, "ok")
	return false
}

// handOver makes the library session of s by replaying its handshake, with
// s.mu held; a held GET is woken to end with NOOP, so the client's next poll
// reaches the library. False when the library refused the handshake.
func (p *preSessions) handOver(s *preSession) bool {
	req := &http.Request{
		Method: http.MethodGet, URL: &url.URL{Path: s.path, RawQuery: s.rawQuery}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: s.header, Host: s.host, RemoteAddr: s.remoteAddr, TLS: s.tls, Body: http.NoBody,
	}
	rec := &answerRecorder{header: http.Header{}}
	p.e.srv.ServeHTTP(rec, req)
	var open struct{ Sid string }
	if b := rec.body.Bytes(); rec.status != http.StatusOK || len(b) < 2 || b[0] != '0' || json.Unmarshal(b[1:], &open) != nil || open.Sid == "" {
		p.e.log.Warn("polling session handover refused by the library", "status", rec.status, "answer", rec.body.String())
		s.closed = true
		s.kick()
		return false
	}
	s.libSID = open.Sid
	s.kick()
	return true
}

// sweep forgets pre-sessions that died and aliases whose library session
// ended.
func (p *preSessions) sweep() {
	t := time.NewTicker(preSweepEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		p.mu.Lock()
		for sid, s := range p.m {
			s.mu.Lock()
			gone := s.libSID == "" && !s.held && s.dead(now, p.e.cfg)
			lib := s.libSID
			s.mu.Unlock()
			if !gone && lib != "" {
				_, live := p.e.srv.Clients().Load(lib)
				gone = !live
			}
			if gone {
				p.drop(sid)
			}
		}
		p.mu.Unlock()
	}
}

func (p *preSessions) forget(sid string) {
	p.mu.Lock()
	p.drop(sid)
	p.mu.Unlock()
}

// drop removes a record, with p.mu held.
func (p *preSessions) drop(sid string) {
	if s, ok := p.m[sid]; ok {
		p.bytes -= s.size
		delete(p.m, sid)
	}
}

// close ends the sweeper and every pre-session: held GETs end with CLOSE
// when their timers next look, and new requests are refused by the engine.
func (p *preSessions) close() {
	p.stopOnce.Do(func() { close(p.stop) })
	p.mu.Lock()
	defer p.mu.Unlock()
	for sid, s := range p.m {
		s.mu.Lock()
		if s.libSID == "" {
			s.lastPong = time.Time{} // dead from now on
			s.kick()
		}
		s.mu.Unlock()
		p.drop(sid)
	}
}

func (p *preSessions) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// writePolling answers a polling GET as the library does.
func writePolling(w http.ResponseWriter, payload []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
	w.WriteHeader(http.StatusOK)
	w.Write(payload)
}

// answerRecorder keeps the library's answer to a replayed handshake.
type answerRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *answerRecorder) Header() http.Header { return r.header }
func (r *answerRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *answerRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
