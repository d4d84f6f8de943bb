package engine

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func corsHeader(t *testing.T, ts *httptest.Server, method, origin string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+"/socket.io/?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", origin)
	if method == http.MethodOptions {
		req.Header.Set("Access-Control-Request-Method", "GET")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Access-Control-Allow-Origin")
}

// CORS for long-polling from pages on other origins is configured, never open by default.
func TestCORSOrigins(t *testing.T) {
	cfg := fastCfg()
	cfg.CORSOrigins = []string{"https://app.example"}
	_, listed := startSIO(t, cfg, &recorder{})
	if _, got := corsHeader(t, listed, http.MethodGet, "https://app.example"); got != "https://app.example" {
		t.Errorf("listed origin: Access-Control-Allow-Origin %q", got)
	}
	if status, got := corsHeader(t, listed, http.MethodOptions, "https://app.example"); got != "https://app.example" || status >= 300 {
		t.Errorf("preflight: %d %q", status, got)
	}
	if _, got := corsHeader(t, listed, http.MethodGet, "https://evil.example"); got != "" {
		t.Errorf("unlisted origin allowed: %q", got)
	}

	cfg.CORSOrigins = []string{"*"}
	_, any := startSIO(t, cfg, &recorder{})
	if _, got := corsHeader(t, any, http.MethodGet, "https://whoever.example"); got != "https://whoever.example" {
		t.Errorf("* did not reflect the origin: %q", got)
	}

	_, none := startSIO(t, fastCfg(), &recorder{})
	if _, got := corsHeader(t, none, http.MethodGet, "https://app.example"); got != "" {
		t.Errorf("no list, yet Access-Control-Allow-Origin %q", got)
	}
}
