package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	log  string // file for its stdout and stderr; a restart appends to it
	cmd  *exec.Cmd
	// exited is closed once cmd has ended and been reaped; err is how.
	exited chan struct{}
	err    error
	starts int
	// grace is how long stop waits after SIGTERM before SIGKILL; 0 = 10 s.
	grace time.Duration
}

func (p *proc) start() error {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if p.starts == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(p.log, flags, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if p.starts > 0 {
		fmt.Fprintf(f, "---- %s: started again\n", time.Now().UTC().Format(time.RFC3339Nano))
	}
	p.starts++
	p.cmd = exec.Command(p.args[0], p.args[1:]...)
	p.cmd.Dir, p.cmd.Stdout, p.cmd.Stderr = p.dir, f, f
	if err := p.cmd.Start(); err != nil {
		return err
	}
	exited, cmd := make(chan struct{}), p.cmd
	p.exited = exited
	go func() { p.err = cmd.Wait(); close(exited) }()
	return nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop ends p by PID and reaps it.
func (p *proc) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	grace := p.grace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// kill ends p with SIGKILL, a crash, and reaps it.
func (p *proc) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

// stack is the servers of one side of a comparison.
type stack struct {
	log     *slog.Logger
	targets []string
	pids    pidList
	procs   []*proc // stop ends the nodes before Redis
}

// stop ends the nodes, all at once (each drains), then Redis.
func (s *stack) stop() {
	var wg sync.WaitGroup
	for _, p := range s.procs {
		if p.name != "redis" {
			wg.Go(p.stop)
		}
	}
	wg.Wait()
	for _, p := range s.procs {
		if p.name == "redis" {
			p.stop()
		}
	}
}

// nodeSetup is how startCourier starts each node beyond the ports, the
// store and the seeds.
type nodeSetup struct {
	logLevel        string        // --log-level; "" = warn
	shutdownTimeout time.Duration // --shutdown-timeout; 0 = 5s
	secret          string        // --cluster-secret; "" = none
	extra           []string      // more flags, after the others
	// redisNice is redis-server's nice value (0: left alone). Sharing two
	// cores with ten nodes and eight load processes, Redis waited about
	// 280 ms for the CPU per round trip (redis-cli --latency) while using
	// 9% of a core: a priority stands in for the cores of its own it has
	// in a deployment.
	redisNice int
}

func (ns nodeSetup) args() []string {
	level, timeout := ns.logLevel, ns.shutdownTimeout
	if level == "" {
		level = "warn"
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	a := []string{"--shutdown-timeout", timeout.String(), "--log-level", level}
	if ns.secret != "" {
		a = append(a, "--cluster-secret", ns.secret)
	}
	return append(a, ns.extra...)
}

// freePorts returns n distinct ports free on 127.0.0.1 for TCP and UDP
// (memberlist binds both), below the kernel's ephemeral range where it can
// tell it: a port from that range, free when a node first starts, can be
// taken as the source port of some outgoing connection (the reconnect
// storm, the pushes, Redis) by the time a killed node starts again, and the
// restart then fails with "address already in use".
func freePorts(n int) ([]int, error) {
	lo, hi := portRange()
	seen := map[int]bool{}
	var out []int
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("no %d free ports in %d..%d", n, lo, hi)
		}
		p := 0
		if hi > lo {
			p = lo + rand.IntN(hi-lo)
		}
		got, ok := tryPort(p)
		if !ok || seen[got] {
			continue
		}
		seen[got] = true
		out = append(out, got)
	}
	return out, nil
}

// portRange is where freePorts picks: 10000 up to the start of the
// ephemeral range, or 0, 0 (the kernel's choice) when that is unknown or
// leaves no room.
func portRange() (int, int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low < 12000 {
		return 0, 0
	}
	return 10000, low
}

// tryPort reports whether port (0: any) is free for TCP and UDP on
// 127.0.0.1, and which port that is.
func tryPort(port int) (int, bool) {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return 0, false
	}
	defer l.Close()
	got := l.Addr().(*net.TCPAddr).Port
	u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(got))
	if err != nil {
		return 0, false
	}
	u.Close()
	return got, true
}

// startCourier starts Redis and n courier nodes sharing it, each with ns.
func startCourier(ctx context.Context, log *slog.Logger, bin, dir string, n int, ns nodeSetup) (*stack, error) {
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
	if ns.redisNice != 0 {
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, redis.cmd.Process.Pid, ns.redisNice); err != nil {
			log.Warn("redis-server keeps its priority", "nice", ns.redisNice, "err", err)
		} else {
			log.Info("redis-server runs at a higher priority", "nice", ns.redisNice)
		}
	}
	if err := waitTCP(ctx, ports[0]); err != nil {
		s.stop()
		return nil, err
	}
	for i := range n {
		http, gossip, peer := ports[1+3*i], ports[2+3*i], ports[3+3*i]
		// Every other node is a seed, as a deployment lists them: a node
		// restarted after a crash finds the survivors at once.
		var seeds []string
		for j := range n {
			if j != i {
				seeds = append(seeds, "127.0.0.1:"+strconv.Itoa(ports[2+3*j]))
			}
		}
		if len(seeds) == 0 {
			seeds = []string{"127.0.0.1:" + strconv.Itoa(gossip)}
		}
		err := s.startNode(bin, dir, i+1, http, ns, "--redis", "redis://127.0.0.1:"+strconv.Itoa(ports[0]),
			"--gossip-listen", "127.0.0.1:"+strconv.Itoa(gossip), "--peer-listen", "127.0.0.1:"+strconv.Itoa(peer),
			"--join", strings.Join(seeds, ","), "--cluster-secret", "compare-cluster-secret")
		if err != nil {
			s.stop()
			return nil, err
		}
	}
	return s, s.waitNodes(ctx)
}

// startCourierMemory starts one courier node on its embedded in-memory
// store: everything it holds is in its own process, as with the peer.
func startCourierMemory(ctx context.Context, log *slog.Logger, bin, dir string) (*stack, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	s := &stack{log: log}
	if err := s.startNode(bin, dir, 1, ports[0], nodeSetup{}); err != nil {
		return nil, err
	}
	return s, s.waitNodes(ctx)
}

// startNode starts courier node n (id "n<n>", log dir/n<n>.log) on HTTP
// port http with the compare key and secret, plus where flags, then ns's.
func (s *stack) startNode(bin, dir string, n, http int, ns nodeSetup, where ...string) error {
	args := append([]string{bin, "--listen", "127.0.0.1:" + strconv.Itoa(http), "--node-id", fmt.Sprintf("n%d", n),
		"--api-key", cmpKey, "--jwt-secret", cmpSecret}, where...)
	args = append(args, ns.args()...)
	timeout := ns.shutdownTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	p := &proc{name: fmt.Sprintf("courier-n%d", n), log: filepath.Join(dir, fmt.Sprintf("n%d.log", n)), args: args,
		grace: timeout + 5*time.Second}
	if err := p.start(); err != nil {
		return fmt.Errorf("%s: %w", bin, err)
	}
	s.procs = append(s.procs, p)
	s.targets = append(s.targets, "http://127.0.0.1:"+strconv.Itoa(http))
	s.pids = append(s.pids, watchedPID{Name: p.name, PID: p.pid()})
	return nil
}

// waitNodes waits until every node answers ready and, in a cluster, sees
// all the others alive; on failure it stops the stack.
func (s *stack) waitNodes(ctx context.Context) error {
	for _, t := range s.targets {
		if err := waitReady(ctx, t, len(s.targets)); err != nil {
			s.stop()
			return err
		}
	}
	return nil
}

// startPeer starts the Node socket.io reference server.
func startPeer(ctx context.Context, log *slog.Logger, peerDir, dir string) (*stack, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	port := ports[0]
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
// arguments (same node id, same ports): a crash and a restart. The restart
// returns once the node answers /readyz, or with an error when it exited
// (its log says why) or was not ready within 30 s.
func (s *stack) killHooks() hooks {
	node, target := s.procs[1], s.targets[0]
	return hooks{
		kill: func(context.Context) error {
			s.log.Info("killing node", "name", node.name, "pid", node.pid())
			node.kill()
			return nil
		},
		restart: func(ctx context.Context) error {
			if err := node.start(); err != nil {
				return err
			}
			s.log.Info("restarted node", "name", node.name, "pid", node.pid())
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ready := make(chan error, 1)
			go func() { ready <- waitReady(rctx, target, 0) }()
			select {
			case err := <-ready:
				if err == nil {
					s.log.Info("restarted node is ready", "name", node.name)
				}
				return err
			case <-node.exited:
				return fmt.Errorf("%s exited after its restart (%v); see %s", node.name, node.err, node.log)
			}
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
