package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"courier/loadtest/sioclient"
	"courier/node/auth"
	"courier/router/redistest"
	"courier/router/testkit"
)

// The dashboard and the alert rules on a real Prometheus (Debian's package)
// scraping two real nodes on a real Redis, after a little traffic: every
// panel's query and every alert's expression evaluates without error and
// returns series (an alert's without its threshold: the series it watches).
func TestDashboardAndAlertsOnARealPrometheus(t *testing.T) {
	testkit.Exclusive(t, "heavy")
	prom, promtool := tool(t, "prometheus", "prometheus"), tool(t, "promtool", "prometheus")
	if out, err := exec.Command(promtool, "check", "rules", "prometheus/alerts.yml").CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}

	redis := redistest.StartServer(t)
	bin := courierBinary(t)
	ports := testkit.FreePorts(t, 8)
	var metricsTargets []string
	apis := make([]string, 2)
	for i := range 2 {
		api, gossip, peer, metrics := ports[4*i], ports[4*i+1], ports[4*i+2], ports[4*i+3]
		apis[i] = fmt.Sprintf("127.0.0.1:%d", api)
		metricsTargets = append(metricsTargets, fmt.Sprintf("127.0.0.1:%d", metrics))
		args := []string{"--listen", apis[i], "--node-id", fmt.Sprintf("n%d", i+1), "--redis", "redis://" + redis,
			"--gossip-listen", fmt.Sprintf("127.0.0.1:%d", gossip), "--peer-listen", fmt.Sprintf("127.0.0.1:%d", peer),
			"--join", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--cluster-secret", "deploy-test-cluster-secret",
			"--metrics-listen", metricsTargets[i], "--api-key", "k", "--jwt-secret", "s", "--log-level", "error",
			"--route", "trpc.app.echo.*=127.0.0.1:1"}
		startProcess(t, bin, args...)
	}
	for _, api := range apis {
		waitHTTP(t, "http://"+api+"/readyz")
	}

	// traffic: a client that acknowledges, pushes to it through either node,
	// a command to a backend that is not there, a refused handshake
	token, _ := auth.Sign([]byte("s"), auth.Claims{Sub: "alice"})
	auth1, _ := json.Marshal(map[string]string{"token": token, "device": "d"})
	got := make(chan struct{}, 100)
	c, err := sioclient.Dial(context.Background(), sioclient.Config{URL: "ws://" + apis[0] + "/socket.io/?EIO=4&transport=websocket", Auth: auth1,
		OnEvent: func(name, _ []byte) {
			if string(name) == "news" {
				got <- struct{}{}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { _ = c.Run() }()
	for i := range 10 {
		pushTo(t, apis[i%2])
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("push %d not delivered", i)
		}
	}
	_ = c.Emit(1, "cmd", []byte(`{"name":"/trpc.app.echo.Echo/Say","data":{}}`))
	if _, err := sioclient.Dial(context.Background(), sioclient.Config{URL: "ws://" + apis[1] + "/socket.io/?EIO=4&transport=websocket", Auth: []byte(`{"token":"bad"}`)}); err == nil {
		t.Fatal("a bad token connected")
	}

	// Prometheus, scraping every second, with the alert rules
	dir := t.TempDir()
	promAddr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePorts(t, 1)[0])
	rules, _ := filepath.Abs("prometheus/alerts.yml")
	cfg, _ := yaml.Marshal(map[string]any{
		"global":         map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"},
		"rule_files":     []string{rules},
		"scrape_configs": []any{map[string]any{"job_name": "courier", "static_configs": []any{map[string]any{"targets": metricsTargets}}}},
	})
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, prom, "--config.file", filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path", filepath.Join(dir, "data"),
		"--web.listen-address", promAddr, "--log.level", "warn")
	query := func(expr string) ([]any, error) {
		res, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(expr))
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		var out struct {
			Status string
			Error  string
			Data   struct{ Result []any }
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			return nil, err
		}
		if out.Status != "success" {
			return nil, fmt.Errorf("%s", out.Error)
		}
		return out.Data.Result, nil
	}
	testkit.Eventually(t, 30*time.Second, "both nodes scraped a few times", func() bool {
		r, err := query(`count_over_time(up{job="courier"}[1m]) > 4`)
		return err == nil && len(r) == 2
	})

	var exprs []string
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	data, err := os.ReadFile("grafana/dashboards/courier.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	var alerts struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	data, _ = os.ReadFile("prometheus/alerts.yml")
	if err := yaml.Unmarshal(data, &alerts); err != nil {
		t.Fatal(err)
	}
	threshold := regexp.MustCompile(`\s*(==|!=|>=|<=|>|<)\s*[0-9.]+\s*$`)
	for _, g := range alerts.Groups {
		for _, r := range g.Rules {
			if _, err := query(r.Expr); err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
			}
			exprs = append(exprs, threshold.ReplaceAllString(r.Expr, ""))
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d queries found", len(exprs))
	}
	for _, e := range exprs {
		testkit.Eventually(t, 20*time.Second, "series for "+e, func() bool {
			r, err := query(e)
			if err != nil {
				t.Fatalf("%s: %v", e, err)
			}
			return len(r) > 0
		})
	}
	t.Logf("%d dashboard and alert queries return series", len(exprs))
}

func pushTo(t *testing.T, api string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+api+"/v1/push", strings.NewReader(`{"to":{"users":["alice"]},"event":"news","data":1,"ttl":60}`))
	req.Header.Set("Authorization", "Bearer k")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 202 {
		t.Fatalf("push answered %d", res.StatusCode)
	}
}

// startProcess runs a program until the test ends, killed by its PID.
func startProcess(t *testing.T, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() })
}

func waitHTTP(t *testing.T, u string) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, u, func() bool {
		res, err := http.Get(u)
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
}
