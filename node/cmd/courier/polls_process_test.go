package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"courier/router/redistest"
	"courier/router/testkit"
	"courier/router/trpc"
)

// A polling task runs on exactly one of three node processes, and when that
// process is killed (SIGKILL) another takes the task within two intervals.
func TestPollRunsOnOneNodeAndMovesOnSIGKILL(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "courier")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	redis := redistest.StartServer(t)

	var mu sync.Mutex
	type hit struct {
		node string
		at   time.Time
	}
	var hits []hit
	backend, err := trpc.NewServer(trpc.ServerConfig{Listen: "127.0.0.1:0"}, map[string]trpc.Handler{
		"/test.poll.Svc/Get": func(ctx context.Context, req *trpc.ServerRequest) *trpc.ServerResponse {
			mu.Lock()
			hits = append(hits, hit{strings.TrimPrefix(req.Caller, "trpc.courier.node."), time.Now()})
			n := len(hits)
			mu.Unlock()
			return &trpc.ServerResponse{Body: []byte(fmt.Sprintf(`{"n":%d}`, n/2)), ContentType: trpc.ContentTypeJSON}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Close() })
	callsSince := func(from time.Time) map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for _, h := range hits {
			if !h.at.Before(from) {
				out[h.node]++
			}
		}
		return out
	}

	type proc struct {
		id, api string
		cmd     *exec.Cmd
	}
	ports := testkit.FreePorts(t, 9)
	var procs []*proc
	for i := 0; i < 3; i++ {
		p := &proc{id: fmt.Sprintf("p%d", i+1), api: fmt.Sprintf("127.0.0.1:%d", ports[i])}
		p.cmd = exec.Command(bin, "--listen", p.api, "--node-id", p.id, "--redis", "redis://"+redis,
			"--gossip-listen", fmt.Sprintf("127.0.0.1:%d", ports[3+i]), "--join", fmt.Sprintf("127.0.0.1:%d", ports[3]),
			"--peer-listen", fmt.Sprintf("127.0.0.1:%d", ports[6+i]), "--api-key", "k", "--jwt-secret", "s", "--cluster-secret", "cs",
			"--route", "test.poll.*="+backend.Addr().String(), "--log-level", "warn")
		p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
		procs = append(procs, p)
	}
	api := func(p *proc, method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, "http://"+p.api+path, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer k")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer res.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(res.Body)
		return res.StatusCode, buf.Bytes()
	}
	testkit.Eventually(t, 20*time.Second, "three nodes alive", func() bool {
		for _, p := range procs {
			status, body := api(p, "GET", "/v1/cluster", "")
			if status != 200 || bytes.Count(body, []byte(`"alive"`)) != 3 {
				return false
			}
		}
		return true
	})

	if status, body := api(procs[0], "POST", "/v1/polls",
		`{"name":"p","cmd":"/test.poll.Svc/Get","interval":1,"to":{"users":["u"]},"event":"poll","ttl":60}`); status != 201 {
		t.Fatalf("create poll: %d %s", status, body)
	}
	start := time.Now()
	testkit.Eventually(t, 10*time.Second, "the task running", func() bool { return len(callsSince(start)) > 0 })
	time.Sleep(3 * time.Second) // three intervals: any second runner would show
	running := callsSince(start)
	if len(running) != 1 {
		t.Fatalf("calls by node: %v, want one runner", running)
	}
	var holder *proc
	for _, p := range procs {
		if running[p.id] > 0 {
			holder = p
		}
	}
	_, listing := api(procs[2], "GET", "/v1/polls", "")
	if !bytes.Contains(listing, []byte(`"node":"`+holder.id+`"`)) {
		t.Fatalf("GET /v1/polls does not name the holder %s: %s", holder.id, listing)
	}

	if err := holder.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var taker string
	testkit.Eventually(t, 10*time.Second, "another node running the task", func() bool {
		for node := range callsSince(killed) {
			if node != holder.id {
				taker = node
				return true
			}
		}
		return false
	})
	mu.Lock()
	var took time.Duration
	for _, h := range hits {
		if h.node == taker && h.at.After(killed) {
			took = h.at.Sub(killed)
			break
		}
	}
	mu.Unlock()
	t.Logf("%s held the task; after SIGKILL %s took it over in %v", holder.id, taker, took)
	if took > 2*time.Second {
		t.Fatalf("takeover took %v, more than two intervals", took)
	}
	after := time.Now()
	time.Sleep(2500 * time.Millisecond)
	if got := callsSince(after); len(got) != 1 || got[taker] == 0 {
		t.Fatalf("after the takeover, calls by node: %v", got)
	}
}
