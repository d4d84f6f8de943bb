package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeAdmin is a Config.AdminAuth: the cookie "admin=ok", or the bearer
// "admin-key", as node/admin's Authenticated would judge them.
func fakeAdmin(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); h != "" {
		return h == "Bearer admin-key"
	}
	c, err := r.Cookie("admin")
	return err == nil && c.Value == "ok"
}

// adminCall is call with headers instead of an API key; the status, and
// the error code when the answer is an error body.
func adminCall(t *testing.T, ts *httptest.Server, method, path, body string, headers map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, errorCode(out)
}

// An admin (the UI's cookie, or the admin key) may do what an API key
// does; an API key's rate limit and idempotency scope are not an admin's.
func TestAdminMayCallTheAPI(t *testing.T) {
	ts, svc := newTestServer(t, Config{AdminAuth: fakeAdmin, RatePerKey: 0.001})
	cookie := map[string]string{"Cookie": "admin=ok", AdminHeader: "1"}

	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"cookie", cookie, http.StatusAccepted},
		{"admin key as bearer", map[string]string{"Authorization": "Bearer admin-key"}, http.StatusAccepted},
		{"again: admins are not held to --api-rate", cookie, http.StatusAccepted},
		{"a wrong cookie", map[string]string{"Cookie": "admin=no", AdminHeader: "1"}, http.StatusUnauthorized},
		{"a cookie beside a wrong key", map[string]string{"Cookie": "admin=ok", AdminHeader: "1", "Authorization": "Bearer nope"}, http.StatusUnauthorized},
	} {
		if status, _ := adminCall(t, ts, "POST", "/v1/push", `{"to":{"users":["u"]},"event":"e","data":1,"id":"same"}`, tc.headers); status != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, status, tc.want)
		}
	}
	if len(svc.pushed) != 3 || svc.pushed[0].Scope != adminScope || svc.pushed[1].Scope != adminScope {
		t.Fatalf("pushes %d, scopes of the first %+v", len(svc.pushed), svc.pushed)
	}
	// an API key's push with the same id is in another scope
	if status, body, _ := call(t, ts, "POST", "/v1/push", "k1", `{"to":{"users":["u"]},"event":"e","data":1,"id":"same"}`); status != 202 {
		t.Fatalf("API key push: %d %v", status, body)
	}
	if got := svc.pushed[3].Scope; got == adminScope || got == "" {
		t.Errorf("API key's scope %q", got)
	}
	// without AdminAuth the cookie is nothing
	plain, _ := newTestServer(t, Config{})
	if status, _ := adminCall(t, plain, "GET", "/v1/cluster", "", cookie); status != http.StatusUnauthorized {
		t.Errorf("cookie without AdminAuth: %d", status)
	}
}

// A change made with the admin cookie alone needs X-Courier-Admin: 1 (a
// cross-site form cannot send it); reads do not, nor does the admin key.
func TestAdminCookieChangesNeedTheHeader(t *testing.T) {
	ts, svc := newTestServer(t, Config{AdminAuth: fakeAdmin})
	cases := []struct {
		name, method, path string
		headers            map[string]string
		want               int
	}{
		{"disconnect, cookie, no header", "POST", "/v1/users/u/disconnect", map[string]string{"Cookie": "admin=ok"}, http.StatusForbidden},
		{"disconnect, cookie, header 0", "POST", "/v1/users/u/disconnect", map[string]string{"Cookie": "admin=ok", AdminHeader: "0"}, http.StatusForbidden},
		{"undye, cookie, no header", "DELETE", "/v1/dye/u", map[string]string{"Cookie": "admin=ok"}, http.StatusForbidden},
		{"dye, cookie, no header", "PUT", "/v1/dye/u", map[string]string{"Cookie": "admin=ok"}, http.StatusForbidden},
		{"disconnect, cookie, header", "POST", "/v1/users/u/disconnect", map[string]string{"Cookie": "admin=ok", AdminHeader: "1"}, http.StatusOK},
		{"disconnect, admin key, no header", "POST", "/v1/users/u/disconnect", map[string]string{"Authorization": "Bearer admin-key"}, http.StatusOK},
		{"read, cookie, no header", "GET", "/v1/users/u", map[string]string{"Cookie": "admin=ok"}, http.StatusOK},
		{"head, cookie, no header", "HEAD", "/v1/cluster", map[string]string{"Cookie": "admin=ok"}, http.StatusOK},
	}
	for _, tc := range cases {
		status, code := adminCall(t, ts, tc.method, tc.path, `{"env":"qa"}`, tc.headers)
		if status != tc.want || (status == http.StatusForbidden && code != "forbidden") {
			t.Errorf("%s: %d %q, want %d", tc.name, status, code, tc.want)
		}
	}
	if len(svc.dyes) != 0 {
		t.Errorf("a refused dye reached the service: %v", svc.dyes)
	}
}
