package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"courier/router/redistest"
	"courier/router/testkit"
)

// Failure detection between real node processes: a node starved of CPU
// (stopped for less than the suspicion time, or sharing the cores with a
// busy loop) is never declared dead nor purged; a node killed for good is
// declared dead and purged, once, within 10 s.
func TestStarvedNodeIsNotPurgedAndAKilledOneIs(t *testing.T) {
	testkit.Exclusive(t, "heavy") // failure detection under a known load, not an unknown one
	bin := filepath.Join(t.TempDir(), "courier")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	redis := redistest.StartServer(t)
	ports := testkit.FreePorts(t, 9)
	var cmds []*exec.Cmd
	var apis []string
	for i := 0; i < 3; i++ {
		api := fmt.Sprintf("127.0.0.1:%d", ports[i])
		cmd := exec.Command(bin, "--listen", api, "--node-id", fmt.Sprintf("f%d", i+1), "--redis", "redis://"+redis,
			"--gossip-listen", fmt.Sprintf("127.0.0.1:%d", ports[3+i]), "--join", fmt.Sprintf("127.0.0.1:%d", ports[3]),
			"--peer-listen", fmt.Sprintf("127.0.0.1:%d", ports[6+i]), "--api-key", "k", "--jwt-secret", "s",
			"--cluster-secret", "cluster-secret", "--log-level", "warn")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		cmds, apis = append(cmds, cmd), append(apis, api)
	}
	get := func(api, path string) []byte {
		req, _ := http.NewRequest(http.MethodGet, "http://"+api+path, nil)
		req.Header.Set("Authorization", "Bearer k")
		c := http.Client{Timeout: 2 * time.Second}
		res, err := c.Do(req)
		if err != nil {
			return nil
		}
		defer res.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(res.Body)
		return buf.Bytes()
	}
	// stateOf is f3's state as the node at api sees it ("" when unknown).
	stateOf := func(api string) string {
		var c struct{ Nodes []struct{ ID, State string } }
		if json.Unmarshal(get(api, "/v1/cluster"), &c) != nil {
			return ""
		}
		for _, n := range c.Nodes {
			if n.ID == "f3" {
				return n.State
			}
		}
		return ""
	}
	purgeLine := regexp.MustCompile(`(?m)^courier_dead_node_purges_total (\d+)`)
	purges := func() int {
		total := 0
		for _, api := range apis[:2] {
			if m := purgeLine.FindSubmatch(get(api, "/metrics")); m != nil {
				n, _ := strconv.Atoi(string(m[1]))
				total += n
			}
		}
		return total
	}
	testkit.Eventually(t, 20*time.Second, "three nodes alive", func() bool {
		return stateOf(apis[0]) == "alive" && stateOf(apis[1]) == "alive" && bytes.Count(get(apis[2], "/v1/cluster"), []byte(`"alive"`)) == 3
	})

	// watch reports the worst state f1 and f2 gave f3 while starve runs,
	// and for settle after it.
	watch := func(what string, starve func(), settle time.Duration) {
		t.Helper()
		var worst atomic.Value
		worst.Store("alive")
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				for _, api := range apis[:2] {
					if s := stateOf(api); s == "dead" || s == "left" || (s == "suspect" && worst.Load() == "alive") {
						worst.Store(s)
					}
				}
			}
		}()
		starve()
		time.Sleep(settle)
		close(stop)
		<-done
		if w := worst.Load().(string); w == "dead" || w == "left" {
			t.Fatalf("%s: f3 was declared %s", what, w)
		} else {
			t.Logf("%s: the worst f3 was seen as: %s", what, w)
		}
		if p := purges(); p != 0 {
			t.Fatalf("%s: f3 purged %d times", what, p)
		}
	}

	watch("SIGSTOP for 3 s", func() {
		if err := cmds[2].Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		if err := cmds[2].Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}, 5*time.Second)
	testkit.Eventually(t, 10*time.Second, "f3 alive again", func() bool { return stateOf(apis[0]) == "alive" })

	watch("a busy loop on every core for 8 s", func() {
		deadline := time.Now().Add(8 * time.Second)
		var spin atomic.Int64
		finished := make(chan struct{})
		for range 2 * runtime.NumCPU() {
			go func() {
				for time.Now().Before(deadline) {
					spin.Add(1)
				}
				finished <- struct{}{}
			}()
		}
		for range 2 * runtime.NumCPU() {
			<-finished
		}
	}, 2*time.Second)

	if err := cmds[2].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	testkit.Eventually(t, 10*time.Second, "f3 declared dead and purged", func() bool {
		return stateOf(apis[0]) == "dead" && stateOf(apis[1]) == "dead" && purges() == 1
	})
	t.Logf("after SIGKILL, f3 was dead and purged within %v", time.Since(killed).Round(100*time.Millisecond))
	time.Sleep(time.Second)
	if p := purges(); p != 1 {
		t.Fatalf("f3 purged %d times, want once", p)
	}
}
