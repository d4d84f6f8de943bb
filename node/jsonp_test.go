package node

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// JSONP long-polling is off unless --jsonp: a j= request gets Engine.IO's
// bad request, while XHR polling is served as ever.
func TestJSONPPollingIsOffUnlessEnabled(t *testing.T) {
	get := func(addr, query string) (int, string) {
		t.Helper()
		res, err := http.Get("http://" + addr + "/socket.io/?EIO=4&transport=polling" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	off := serve(t, newTestNode(t, nil))
	if status, body := get(off, "&j=0"); status != 400 || !strings.Contains(body, `"code":3`) {
		t.Errorf("JSONP with --jsonp off: %d %s", status, body)
	}
	if status, body := get(off, ""); status != 200 || !strings.HasPrefix(body, "0{") {
		t.Errorf("XHR polling: %d %s", status, body)
	}
	on := serve(t, newTestNode(t, func(c *Config) { c.JSONP = true }))
	if status, body := get(on, "&j=0"); status != 200 || !strings.Contains(body, "___eio[0]") {
		t.Errorf("JSONP with --jsonp: %d %s", status, body)
	}
}
