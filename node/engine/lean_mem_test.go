package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"courier/router/testkit"
)

// Server memory per idle socket.io connection, lean engine vs zishang520:
//
//	COURIER_MEMTEST=1 go test -run TestIdleMemoryPerConnection -v ./node/engine
//
// The server runs in a child process (this test binary), so the clients'
// memory is not counted; COURIER_MEM_N sets the count (default 15,000).
func TestIdleMemoryPerConnection(t *testing.T) {
	if os.Getenv("COURIER_MEMTEST") == "" {
		t.Skip("set COURIER_MEMTEST=1 to measure")
	}
	n := 15000
	if v, err := strconv.Atoi(os.Getenv("COURIER_MEM_N")); err == nil && v > 0 {
		n = v
	}
	for _, mode := range []string{"lean", "zishang520"} {
		t.Run(mode, func(t *testing.T) { measureIdle(t, mode, n) })
	}
}

type memStats struct {
	Heap, Stack, Goroutines, Count int64
}

func measureIdle(t *testing.T, mode string, n int) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemChildServer$")
	cmd.Env = append(os.Environ(), "COURIER_MEMCHILD="+mode)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
	stats := func() (memStats, int64) {
		res, err := http.Get("http://" + addr + "/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var s memStats
		json.NewDecoder(res.Body).Decode(&s)
		return s, rssOf(t, cmd.Process.Pid)
	}
	s0, rss0 := stats()
	url := "ws://" + addr + "/socket.io/?EIO=4&transport=websocket"
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				c, err := idleClient(url)
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var s1 memStats
	var rss1 int64
	for i := 0; i < 50; i++ {
		if s1, rss1 = stats(); s1.Count == int64(n) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	heap := float64(s1.Heap+s1.Stack-s0.Heap-s0.Stack) / float64(n)
	rss := float64(rss1-rss0) / float64(n)
	t.Logf("%s: %d idle connections: Go heap+stacks %.0f B/conn, RSS %.0f B/conn, goroutines %d -> %d",
		mode, n, heap, rss, s0.Goroutines, s1.Goroutines)
}

func idleClient(url string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, br, _, err := ws.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	r := rw{c, c}
	if br != nil {
		r = rw{br, c}
		defer ws.PutReader(br)
	}
	if _, _, err := wsutil.ReadServerData(r); err != nil { // OPEN
		c.Close()
		return nil, err
	}
	wsutil.WriteClientText(c, []byte(`40{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMyJ9.sig"}`))
	if m, _, err := wsutil.ReadServerData(r); err != nil || !strings.HasPrefix(string(m), "40") {
		c.Close()
		return nil, fmt.Errorf("connect: %q %v", m, err)
	}
	return c, nil
}

func rssOf(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skip("no /proc")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// holder is a Handler that keeps every Conn, as the node does.
type holder struct {
	mu    sync.Mutex
	conns map[Conn]any
}

func (h *holder) Authenticate(hs *Handshake) (any, error) { return hs.Auth, nil }

func (h *holder) Connected(c Conn, auth any) {
	h.mu.Lock()
	h.conns[c] = auth
	h.mu.Unlock()
	c.OnEvent(func(string, []any, func(...any)) {})
	c.OnClose(func(string) { h.mu.Lock(); delete(h.conns, c); h.mu.Unlock() })
}

// TestMemChildServer is the child of TestIdleMemoryPerConnection.
func TestMemChildServer(t *testing.T) {
	mode := os.Getenv("COURIER_MEMCHILD")
	if mode == "" {
		t.Skip("child process only")
	}
	cfg := Config{PingInterval: 5 * time.Minute, PingTimeout: time.Minute, LegacyWebSocket: mode == "zishang520"}
	s, err := NewSocketIO(cfg, &holder{conns: map[Conn]any{}}, testkit.LoggerAt(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", s)
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		json.NewEncoder(w).Encode(memStats{Heap: int64(ms.HeapInuse), Stack: int64(ms.StackInuse), Goroutines: int64(runtime.NumGoroutine()), Count: int64(s.Count())})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Printf("ADDR %s\n", ln.Addr())
	var b [1]byte
	os.Stdin.Read(b[:]) // until the parent closes stdin
	s.Close()
	srv.Close()
}
