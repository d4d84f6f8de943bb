package node

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"courier/router/testkit"
)

// With --metrics-listen, /metrics is served there alone, and the public
// listener (where clients are) answers it 404; Shutdown closes both.
func TestMetricsServedApart(t *testing.T) {
	n := newTestNode(t, func(c *Config) { c.MetricsListen = "127.0.0.1:0" })
	public := serve(t, n)
	var apart string
	get := func(url string) (int, string) {
		res, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	testkit.Eventually(t, 5*time.Second, "metrics address known", func() bool {
		apart = n.MetricsAddr()
		return apart != ""
	})
	if status, body := get("http://" + apart + "/metrics"); status != 200 || !regexp.MustCompile(`(?m)^courier_connections `).MatchString(body) {
		t.Fatalf("apart: %d %.200s", status, body)
	}
	if status, _ := get("http://" + public + "/metrics"); status != 404 {
		t.Fatalf("public listener served /metrics: %d", status)
	}
	if status, body := get("http://" + public + "/healthz"); status != 200 || !strings.HasPrefix(body, "ok") {
		t.Fatalf("healthz %d", status)
	}
}
