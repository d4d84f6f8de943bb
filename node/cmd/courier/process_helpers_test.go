package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"courier/router/testkit"
)

// startNodeProcess builds courier, runs it on a free loopback port with args
// (errors logged only) until the test ends, and returns its address once
// /healthz answers.
func startNodeProcess(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "courier")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	api := fmt.Sprintf("127.0.0.1:%d", testkit.FreePorts(t, 1)[0])
	cmd := exec.Command(bin, append([]string{"--listen", api, "--log-level", "error"}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() })
	httpc := &http.Client{Timeout: 5 * time.Second}
	testkit.Eventually(t, 20*time.Second, "node up", func() bool {
		res, err := httpc.Get("http://" + api + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
	return api
}

// scrape reads the node's /metrics.
func scrape(t *testing.T, httpc *http.Client, api string) []byte {
	t.Helper()
	res, err := httpc.Get("http://" + api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// metricValue is the value of the unlabelled metric name in a scrape.
func metricValue(t *testing.T, scrape []byte, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` ([0-9.e+]+)$`).FindSubmatch(scrape)
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}
