// Package admin serves the operator's web UI at /admin/: one page of plain
// HTML, CSS and JavaScript embedded in the binary (ui/), a login with an
// admin key (--admin-key), and a stateless session cookie that the push API
// accepts in place of an API key (api.Config.AdminAuth). The page calls the
// API's own /v1/ routes from the browser; this package serves no data.
package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"courier/node/api"
	"courier/node/errcode"
)

// CookieName is the session cookie's name.
const CookieName = "courier_admin"

// DefaultSessionTTL is how long a login lasts when Config names no TTL.
const DefaultSessionTTL = 12 * time.Hour

// loginRate is how many wrong keys per second a node lets be tried.
const loginRate = 5

// offMessage is the answer of every /admin/ path without keys.
const offMessage = "the admin UI is off: start the node with --admin-key\n"

// csp lets the page load its own files and call its own origin, nothing
// else: no inline script or style, no frames, no plugins.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

//go:embed ui
var uiFiles embed.FS

// Config sets up the UI. The zero value is a UI that is off.
type Config struct {
	// Keys are the admin keys (--admin-key); none: every /admin/ path
	// answers 404 and Authenticated is false.
	Keys []string
	// SessionTTL is how long a login's cookie is valid (default 12h).
	SessionTTL time.Duration
	// Now is the clock for session expiry and the login limit (default time.Now).
	Now func() time.Time
	Log *slog.Logger // default: discard
}

// Admin serves /admin/ and checks admin credentials. Its methods are safe
// for concurrent use.
type Admin struct {
	cfg         Config
	sessionKeys [][]byte // sessionKey of each of cfg.Keys, in order
	logins      *failedLogins
	assets      map[string]asset
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// New makes the UI from cfg; empty keys are dropped.
func New(cfg Config) *Admin {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	var keys []string
	for _, k := range cfg.Keys {
		if k != "" {
			keys = append(keys, k)
		}
	}
	cfg.Keys = keys
	a := &Admin{cfg: cfg, logins: newFailedLogins(loginRate, cfg.Now), assets: loadAssets()}
	for _, k := range keys {
		a.sessionKeys = append(a.sessionKeys, sessionKey(k))
	}
	return a
}

// loadAssets reads the embedded ui/ folder once.
func loadAssets() map[string]asset {
	out := make(map[string]asset)
	_ = fs.WalkDir(uiFiles, "ui", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := uiFiles.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(name))
		if strings.HasSuffix(name, ".js") {
			ctype = "text/javascript; charset=utf-8" // modules need a JavaScript type, whatever the host's mime table says
		}
		out[strings.TrimPrefix(name, "ui/")] = asset{body: body, contentType: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return out
}

// Enabled reports whether the UI has at least one key.
func (a *Admin) Enabled() bool { return len(a.cfg.Keys) > 0 }

// Authenticated reports whether r carries admin credentials: with an
// Authorization header, only "Bearer <admin key>" counts (a cookie beside
// another Authorization is not looked at, so callers can tell a cookie's
// request by its missing header); without one, a valid session cookie.
func (a *Admin) Authenticated(r *http.Request) bool {
	if !a.Enabled() {
		return false
	}
	if h := r.Header.Get("Authorization"); h != "" {
		token, ok := strings.CutPrefix(h, "Bearer ")
		return ok && api.FindKey(a.cfg.Keys, token) >= 0
	}
	c, err := r.Cookie(CookieName)
	return err == nil && verifyToken(a.sessionKeys, c.Value, a.cfg.Now())
}

// Handler serves every path under /admin/.
func (a *Admin) Handler() http.Handler {
	if !a.Enabled() {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(offMessage))
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/{$}", func(w http.ResponseWriter, r *http.Request) { a.serveAsset(w, r, "index.html") })
	mux.HandleFunc("GET /admin/{file}", func(w http.ResponseWriter, r *http.Request) { a.serveAsset(w, r, r.PathValue("file")) })
	mux.HandleFunc("POST /admin/login", a.login)
	mux.HandleFunc("POST /admin/logout", a.logout)
	mux.HandleFunc("GET /admin/session", a.session)
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, errcode.New(errcode.NotFound, "no such admin path: "+r.Method+" "+r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}

func (a *Admin) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := a.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	if strings.HasSuffix(name, ".html") {
		w.Header().Set("Cache-Control", "no-store")
	} else {
		w.Header().Set("Cache-Control", "no-cache") // revalidated by ETag: a new binary's files are seen at once
		w.Header().Set("ETag", f.etag)
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}

// login serves POST /admin/login with the key as form field or JSON "key".
func (a *Admin) login(w http.ResponseWriter, r *http.Request) {
	key, ok := loginKey(w, r)
	if !ok {
		api.WriteError(w, errcode.New(errcode.BadRequest, `send the admin key as form field "key" or JSON {"key": ...}`))
		return
	}
	if wait := a.logins.take(); wait > 0 {
		w.Header().Set("Retry-After", itoa(max(1, int(math.Ceil(wait.Seconds())))))
		api.WriteError(w, errcode.New(errcode.RateLimited, "too many failed logins on this node; retry after a second"))
		return
	}
	i := api.FindKey(a.cfg.Keys, key)
	if i < 0 {
		a.cfg.Log.Warn("admin login refused: wrong key", "remote", remoteIP(r))
		api.WriteError(w, errcode.New(errcode.Unauthorized, "wrong admin key"))
		return
	}
	a.logins.giveBack()
	token := signToken(a.sessionKeys[i], a.cfg.Now().Add(a.cfg.SessionTTL))
	http.SetCookie(w, a.cookie(r, token, int(a.cfg.SessionTTL.Seconds())))
	a.cfg.Log.Info("admin login", "remote", remoteIP(r), "key", i+1)
	api.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// loginKey reads the key of a login body (at most 4 KiB).
func loginKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ctype == "application/json" {
		var body struct {
			Key string `json:"key"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return "", false
		}
		return body.Key, body.Key != ""
	}
	key := r.PostFormValue("key")
	return key, key != ""
}

// logout clears the cookie in this browser. The token is stateless: a copy
// kept elsewhere stays valid until it expires, or until its key is removed.
func (a *Admin) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, a.cookie(r, "", -1))
	api.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// session answers 200 when r is logged in (cookie or admin key), else 401.
func (a *Admin) session(w http.ResponseWriter, r *http.Request) {
	if !a.Authenticated(r) {
		api.WriteError(w, errcode.New(errcode.Unauthorized, "not logged in"))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	api.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// cookie is the session cookie with value; maxAge < 0 deletes it.
func (a *Admin) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: CookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
	}
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
