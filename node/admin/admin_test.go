package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	keyA = "admin-key-a-0123456789abcdef0123456789"
	keyB = "admin-key-b-0123456789abcdef0123456789"
)

// clock is a Config.Now the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newAdmin(t *testing.T, keys ...string) (*Admin, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	return New(Config{Keys: keys, Now: c.now}), c
}

// do serves one request on a's handler and returns the recorded answer.
func do(a *Admin, method, path, body string, edit ...func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if strings.HasPrefix(body, "{") {
		r.Header.Set("Content-Type", "application/json")
	} else if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, e := range edit {
		e(r)
	}
	w := httptest.NewRecorder()
	a.Handler().ServeHTTP(w, r)
	return w
}

func loginJSON(key string) string {
	b, _ := json.Marshal(map[string]string{"key": key})
	return string(b)
}

// sessionCookie logs in with key and returns the cookie set.
func sessionCookie(t *testing.T, a *Admin, key string) *http.Cookie {
	t.Helper()
	w := do(a, "POST", "/admin/login", loginJSON(key))
	if w.Code != http.StatusOK {
		t.Fatalf("login with a right key: %d %s", w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	t.Fatalf("login set no %s cookie: %v", CookieName, w.Header())
	return nil
}

// withCookie authenticates a request by cookie.
func withCookie(c *http.Cookie) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(c) }
}

func authed(a *Admin, edit ...func(*http.Request)) bool {
	r := httptest.NewRequest("GET", "/v1/cluster", nil)
	for _, e := range edit {
		e(r)
	}
	return a.Authenticated(r)
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Message == "" {
		t.Fatalf("answer %d is not an error body: %q", w.Code, w.Body)
	}
	return body.Error.Code
}

func TestOffWithoutKeys(t *testing.T) {
	a, _ := newAdmin(t)
	if a.Enabled() {
		t.Fatal("enabled without keys")
	}
	for _, p := range []string{"/admin/", "/admin/app.js", "/admin/login", "/admin/session"} {
		w := do(a, "GET", p, "")
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "--admin-key") {
			t.Errorf("GET %s without keys: %d %q, want 404 naming --admin-key", p, w.Code, w.Body)
		}
	}
	if w := do(a, "POST", "/admin/login", loginJSON("")); w.Code != http.StatusNotFound {
		t.Errorf("login without keys: %d", w.Code)
	}
	if authed(a, func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }) {
		t.Error("an empty bearer passes a UI that is off")
	}
}

func TestPageHeaders(t *testing.T) {
	a, _ := newAdmin(t, keyA)
	w := do(a, "GET", "/admin/", "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<script type="module" src="app.js">`) {
		t.Fatalf("GET /admin/: %d %.200q", w.Code, w.Body)
	}
	h := w.Header()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline script: %q", csp)
	}
	want := map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store"}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s: %q, want %q", k, h.Get(k), v)
		}
	}
	if strings.Contains(w.Body.String(), "<script>") || strings.Contains(w.Body.String(), "<style>") {
		t.Error("the page has inline script or style, which the CSP refuses")
	}
	js := do(a, "GET", "/admin/app.js", "")
	if js.Code != http.StatusOK || !strings.HasPrefix(js.Header().Get("Content-Type"), "text/javascript") || js.Header().Get("Content-Security-Policy") == "" {
		t.Errorf("GET /admin/app.js: %d %v", js.Code, js.Header())
	}
	if w := do(a, "GET", "/admin/nope.js", ""); w.Code != http.StatusNotFound {
		t.Errorf("unknown file: %d", w.Code)
	}
}

func TestLoginSetsAStrictHttpOnlyCookie(t *testing.T) {
	a, _ := newAdmin(t, keyA)
	c := sessionCookie(t, a, keyA)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge != int(DefaultSessionTTL.Seconds()) || c.Secure {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, Max-Age 12h, not Secure over plain HTTP", c)
	}
	if c.Value == "" || strings.Contains(c.Value, keyA) {
		t.Errorf("cookie value %q is empty or holds the key", c.Value)
	}
	if !authed(a, withCookie(c)) {
		t.Error("the login's own cookie is refused")
	}
	if w := do(a, "GET", "/admin/session", "", withCookie(c)); w.Code != http.StatusOK {
		t.Errorf("GET /admin/session with the cookie: %d", w.Code)
	}
	if w := do(a, "GET", "/admin/session", ""); w.Code != http.StatusUnauthorized || errorCode(t, w) != "unauthorized" {
		t.Errorf("GET /admin/session without: %d", w.Code)
	}

	// a form login behind a TLS proxy: Secure
	form := url.Values{"key": {keyA}}.Encode()
	w := do(a, "POST", "/admin/login", form, func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "https") })
	if w.Code != http.StatusOK || len(w.Result().Cookies()) != 1 || !w.Result().Cookies()[0].Secure {
		t.Errorf("form login over https: %d %v", w.Code, w.Result().Cookies())
	}

	out := do(a, "POST", "/admin/logout", "", withCookie(c))
	cs := out.Result().Cookies()
	if out.Code != http.StatusOK || len(cs) != 1 || cs[0].Name != CookieName || cs[0].MaxAge >= 0 || cs[0].Value != "" {
		t.Errorf("logout: %d %v, want the cookie cleared", out.Code, cs)
	}
}

func TestWrongKeyAndTheLoginLimit(t *testing.T) {
	a, clk := newAdmin(t, keyA)
	if w := do(a, "POST", "/admin/login", loginJSON("")); w.Code != http.StatusBadRequest {
		t.Errorf("no key: %d", w.Code)
	}
	for i := range loginRate {
		w := do(a, "POST", "/admin/login", loginJSON("guess"))
		if w.Code != http.StatusUnauthorized || errorCode(t, w) != "unauthorized" || len(w.Result().Cookies()) != 0 {
			t.Fatalf("wrong key %d: %d %s %v", i+1, w.Code, w.Body, w.Result().Cookies())
		}
	}
	// the bucket is empty: even the right key waits, unchecked
	for _, key := range []string{"guess", keyA} {
		w := do(a, "POST", "/admin/login", loginJSON(key))
		if w.Code != http.StatusTooManyRequests || errorCode(t, w) != "rate_limited" || w.Header().Get("Retry-After") != "1" {
			t.Fatalf("login %d past the limit: %d %s Retry-After %q", loginRate+1, w.Code, w.Body, w.Header().Get("Retry-After"))
		}
	}
	clk.add(time.Second / loginRate)
	sessionCookie(t, a, keyA) // a right key gives its attempt back
	sessionCookie(t, a, keyA)
	if w := do(a, "POST", "/admin/login", loginJSON("guess")); w.Code != http.StatusUnauthorized {
		t.Errorf("one attempt a fifth of a second later: %d", w.Code)
	}
	if w := do(a, "POST", "/admin/login", loginJSON("guess")); w.Code != http.StatusTooManyRequests {
		t.Errorf("and a second at once: %d", w.Code)
	}
}

func TestCookieOfOneKeyOnAnotherNode(t *testing.T) {
	a, _ := newAdmin(t, keyA)
	c := sessionCookie(t, a, keyA)
	rotated, _ := newAdmin(t, keyB, keyA)
	if !authed(rotated, withCookie(c)) {
		t.Error("a node with keys [B, A] refuses a cookie made with A")
	}
	other, _ := newAdmin(t, keyB)
	if authed(other, withCookie(c)) {
		t.Error("a node with key B alone accepts a cookie made with A")
	}
}

func TestExpiredCookieRefused(t *testing.T) {
	a, clk := newAdmin(t, keyA)
	c := sessionCookie(t, a, keyA)
	clk.add(DefaultSessionTTL - time.Second)
	if !authed(a, withCookie(c)) {
		t.Fatal("refused a second before its expiry")
	}
	clk.add(time.Second)
	if authed(a, withCookie(c)) {
		t.Error("accepted at its expiry")
	}
	if w := do(a, "GET", "/admin/session", "", withCookie(c)); w.Code != http.StatusUnauthorized {
		t.Errorf("GET /admin/session with an expired cookie: %d", w.Code)
	}
}

func TestTamperedCookieRefused(t *testing.T) {
	a, _ := newAdmin(t, keyA)
	good := sessionCookie(t, a, keyA).Value
	parts := strings.Split(good, ".")
	flipped := "A"
	if strings.HasSuffix(good, "A") {
		flipped = "B"
	}
	tampered := map[string]string{
		"expiry moved":  strings.Join([]string{parts[0], "9999999999", parts[2], parts[3]}, "."),
		"nonce moved":   strings.Join([]string{parts[0], parts[1], strings.Repeat("0", 32), parts[3]}, "."),
		"mac changed":   good[:len(good)-1] + flipped,
		"no mac":        strings.Join(parts[:3], "."),
		"other version": "v2." + strings.Join(parts[1:], "."),
		"empty":         "",
		"garbage":       "v1.x.y.z",
		// signed with the admin key rather than the session key derived from it
		"signed by the key itself": signToken([]byte(keyA), time.Unix(1_900_000_000, 0)),
	}
	for name, v := range tampered {
		if authed(a, withCookie(&http.Cookie{Name: CookieName, Value: v})) {
			t.Errorf("%s: accepted %q", name, v)
		}
	}
	if !authed(a, withCookie(&http.Cookie{Name: CookieName, Value: good})) {
		t.Error("control: the untouched cookie is refused")
	}
}

func TestBearerAdminKey(t *testing.T) {
	a, _ := newAdmin(t, keyB, keyA)
	bearer := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", v) }
	}
	if !authed(a, bearer("Bearer "+keyA)) || !authed(a, bearer("Bearer "+keyB)) {
		t.Error("an admin key as Bearer is refused")
	}
	for _, v := range []string{"Bearer wrong", "Bearer " + keyA + "x", keyA, "Basic " + keyA} {
		if authed(a, bearer(v)) {
			t.Errorf("Authorization %q accepted", v)
		}
	}
	// with an Authorization header the cookie is not looked at
	c := sessionCookie(t, a, keyA)
	if authed(a, withCookie(c), bearer("Bearer wrong")) {
		t.Error("a cookie beside a wrong Authorization is accepted")
	}
	if w := do(a, "GET", "/admin/session", "", bearer("Bearer "+keyA)); w.Code != http.StatusOK {
		t.Errorf("GET /admin/session with the key as Bearer: %d", w.Code)
	}
}

func TestEveryAssetIsServed(t *testing.T) {
	a, _ := newAdmin(t, keyA)
	for name := range a.assets {
		w := do(a, "GET", "/admin/"+name, "")
		body, _ := io.ReadAll(w.Result().Body)
		if w.Code != http.StatusOK || len(body) == 0 || w.Header().Get("Content-Type") == "" {
			t.Errorf("GET /admin/%s: %d, %d bytes, type %q", name, w.Code, len(body), w.Header().Get("Content-Type"))
		}
	}
	if len(a.assets) < 5 {
		t.Errorf("only %d assets embedded", len(a.assets))
	}
}
