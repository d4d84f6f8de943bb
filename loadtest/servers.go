package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The compare runner starts the servers it measures: Redis and courier
// nodes, or the Node socket.io peer, each on free loopback ports, and stops
// each by its PID (SIGTERM, then SIGKILL after 10 s).

const (
	cmpKey    = "lt-key"
	cmpSecret = "lt-secret"
)

type proc struct {
	name string
	args []string
	dir  string
	log  string // file for its stdout and stderr
	cmd  *exec.Cmd
}

func (p *proc) start() error {
	f, err := os.Create(p.log)
	if err != nil {
		return err
	}
	defer f.Close()
	p.cmd = exec.Command(p.args[0], p.args[1:]...)
	p.cmd.Dir, p.cmd.Stdout, p.cmd.Stderr = p.dir, f, f
	return p.cmd.Start()
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop ends p by PID and reaps it.
func (p *proc) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
}

// stack is the servers of one side of a comparison.
type stack struct {
	log     *slog.Logger
	targets []string
	pids    pidList
	procs   []*proc // stopped in reverse order: nodes before Redis
}

func (s *stack) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].stop()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freePorts(n int) ([]int, error) {
	var out []int
	for range n {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// startCourier starts Redis and n courier nodes sharing it.
func startCourier(ctx context.Context, log *slog.Logger, bin, dir string, n int) (*stack, error) {
	ports, err := freePorts(1 + 3*n)
	if err != nil {
		return nil, err
	}
	s := &stack{log: log}
	redis := &proc{name: "redis", log: filepath.Join(dir, "redis.log"),
		args: []string{"redis-server", "--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}}
	if err := redis.start(); err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	s.procs = append(s.procs, redis)
	if err := waitTCP(ctx, ports[0]); err != nil {
		s.stop()
		return nil, err
	}
	for i := range n {
		http, gossip, peer := ports[1+3*i], ports[2+3*i], ports[3+3*i]
		p := &proc{name: fmt.Sprintf("courier-n%d", i+1), log: filepath.Join(dir, fmt.Sprintf("n%d.log", i+1)),
			args: []string{bin, "--listen", "127.0.0.1:" + strconv.Itoa(http), "--node-id", fmt.Sprintf("n%d", i+1),
				"--redis", "redis://127.0.0.1:" + strconv.Itoa(ports[0]),
				"--gossip-listen", "127.0.0.1:" + strconv.Itoa(gossip), "--peer-listen", "127.0.0.1:" + strconv.Itoa(peer),
				"--join", "127.0.0.1:" + strconv.Itoa(ports[2]),
				"--api-key", cmpKey, "--jwt-secret", cmpSecret, "--shutdown-timeout", "5s", "--log-level", "warn"}}
		if err := p.start(); err != nil {
			s.stop()
			return nil, fmt.Errorf("%s: %w", bin, err)
		}
		s.procs = append(s.procs, p)
		s.targets = append(s.targets, "http://127.0.0.1:"+strconv.Itoa(http))
		s.pids = append(s.pids, watchedPID{Name: p.name, PID: p.pid()})
	}
	for _, t := range s.targets {
		if err := waitReady(ctx, t, n); err != nil {
			s.stop()
			return nil, err
		}
	}
	return s, nil
}

// startPeer starts the Node socket.io reference server.
func startPeer(ctx context.Context, log *slog.Logger, peerDir, dir string) (*stack, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(peerDir, "node_modules", "socket.io")); err != nil {
		return nil, fmt.Errorf("%s has no node_modules: run `npm ci` there", peerDir)
	}
	p := &proc{name: "node-socketio", dir: peerDir, log: filepath.Join(dir, "peer.log"),
		args: []string{"node", "server.js", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--api-key", cmpKey, "--jwt-secret", cmpSecret}}
	if err := p.start(); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	s := &stack{log: log, procs: []*proc{p}, targets: []string{"http://127.0.0.1:" + strconv.Itoa(port)},
		pids: pidList{{Name: p.name, PID: p.pid()}}}
	if err := waitReady(ctx, s.targets[0], 0); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// killHooks SIGKILLs the first node and starts it again with the same
// arguments (same node id, same ports): a crash and a restart.
func (s *stack) killHooks() hooks {
	node := s.procs[1]
	return hooks{
		kill: func(context.Context) error {
			s.log.Info("killing node", "name", node.name, "pid", node.pid())
			node.cmd.Process.Kill()
			node.cmd.Wait()
			return nil
		},
		restart: func(context.Context) error {
			if err := node.start(); err != nil {
				return err
			}
			s.log.Info("restarted node", "name", node.name, "pid", node.pid())
			return nil
		},
	}
}

func waitTCP(ctx context.Context, port int) error {
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return nil
		}
		if sleep(ctx, 100*time.Millisecond) != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("nothing listens on %d after 10s", port)
}

// waitReady waits until target answers /readyz and, for a cluster of
// nodes > 1, its /v1/cluster lists that many alive nodes.
func waitReady(ctx context.Context, target string, nodes int) error {
	hc := &http.Client{Timeout: time.Second}
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
		ok := false
		if resp, err := hc.Get(target + "/readyz"); err == nil {
			ok = resp.StatusCode == 200
			resp.Body.Close()
		}
		if ok && nodes > 1 {
			ok = false
			req, _ := http.NewRequest(http.MethodGet, target+"/v1/cluster", nil)
			req.Header.Set("Authorization", "Bearer "+cmpKey)
			if resp, err := hc.Do(req); err == nil {
				var b strings.Builder
				buf := make([]byte, 4096)
				for {
					n, err := resp.Body.Read(buf)
					b.Write(buf[:n])
					if err != nil {
						break
					}
				}
				resp.Body.Close()
				ok = strings.Count(b.String(), `"alive"`) >= nodes
			}
		}
		if ok {
			return nil
		}
		if sleep(ctx, 200*time.Millisecond) != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("%s not ready after 30s", target)
}
