// Package redistest starts real redis-server processes for tests: one
// standalone server, or a 3-master Redis Cluster. Each process is killed by
// its PID in t.Cleanup (and, on Linux, by the kernel if the test binary dies
// first), so no server outlives its test.
//
// redis-server and redis-cli must be installed (`make test` installs them);
// without them the calling test fails, it is never skipped.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startTimeout bounds how long a server or the cluster may take to come up.
const startTimeout = 20 * time.Second

// binary returns the path of a Redis tool or fails the test saying how to get it.
func binary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("redistest: %s not found in PATH (%v): install Redis 7 "+
			"(`apt-get install redis-server`, or run `make test`, which installs it)", name, err)
	}
	return p
}

// StartServer starts a standalone redis-server on a free 127.0.0.1 port,
// without persistence, and returns its address.
func StartServer(t testing.TB) string {
	t.Helper()
	bin := binary(t, "redis-server")
	dir := t.TempDir()
	var lastErr error
	for range 5 { // a free port can be taken between probe and bind: try another
		port, err := freePort(false)
		if err != nil {
			t.Fatalf("redistest: no free port: %v", err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		p, err := spawn(t, bin, dir, "standalone", port)
		if err == nil {
			err = waitFor(addr, p, func(c *conn) error { _, err := c.do("PING"); return err })
		}
		if err == nil {
			return addr
		}
		lastErr = err
		p.kill()
	}
	t.Fatalf("redistest: redis-server did not start: %v", lastErr)
	return ""
}

// StartCluster starts three redis-server processes with cluster mode on,
// joins them into one cluster of three masters without replicas
// (redis-cli --cluster create) and waits until every node reports
// cluster_state:ok. It returns the three addresses.
func StartCluster(t testing.TB) []string {
	t.Helper()
	bin, cli := binary(t, "redis-server"), binary(t, "redis-cli")
	dir := t.TempDir()
	var addrs []string
	var procs []*proc
	for i := range 3 {
		var lastErr error
		started := false
		for range 5 {
			port, err := freePort(true) // the cluster bus listens on port+10000 as well
			if err != nil {
				t.Fatalf("redistest: no free port: %v", err)
			}
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			p, err := spawn(t, bin, dir, fmt.Sprintf("node%d", i), port,
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", port)),
				"--cluster-node-timeout", "5000")
			if err == nil {
				err = waitFor(addr, p, func(c *conn) error { _, err := c.do("PING"); return err })
			}
			if err == nil {
				addrs, procs, started = append(addrs, addr), append(procs, p), true
				break
			}
			lastErr = err
			p.kill()
		}
		if !started {
			t.Fatalf("redistest: cluster node %d did not start: %v", i, lastErr)
		}
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	for i, addr := range addrs {
		err := waitFor(addr, procs[i], func(c *conn) error {
			info, err := c.do("CLUSTER", "INFO")
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				return fmt.Errorf("not ready: %q", firstLine(info))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("redistest: cluster node %s never reported cluster_state:ok: %v", addr, err)
		}
	}
	return addrs
}

// proc is one redis-server we started.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
}

func (p *proc) kill() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill() // by PID; the process is ours
	<-p.done
}

// logTail returns the end of the server's log, for failure messages.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// spawn starts redis-server on port with persistence off; extra are more
// config arguments. The process is killed in t.Cleanup.
func spawn(t testing.TB, bin, dir, name string, port int, extra ...string) (*proc, error) {
	logPath := filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, port))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	args := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p, nil
}

// waitFor polls check on a fresh connection to addr until it passes, the
// process exits, or startTimeout passes.
func waitFor(addr string, p *proc, check func(*conn) error) error {
	deadline := time.Now().Add(startTimeout)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("redis-server on %s exited: %s", addr, p.logTail())
		default:
		}
		var c *conn
		if c, err = dial(addr); err == nil {
			err = check(c)
			c.close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for a guess
	}
	return fmt.Errorf("%s not ready after %v: %v; log: %s", addr, startTimeout, err, p.logTail())
}

// freePort returns a port on 127.0.0.1 that is free now; with bus, port+10000
// is free too (Redis Cluster's bus port).
func freePort(bus bool) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !bus {
			l.Close()
			return port, nil
		}
		if port+10000 > 65535 {
			l.Close()
			continue
		}
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000))
		l.Close()
		if err != nil {
			continue
		}
		l2.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no port pair found")
}

// conn speaks just enough RESP to ask a server whether it is ready, so the
// helper does not depend on the client under test.
type conn struct {
	c net.Conn
	r *bufio.Reader
}

func dial(addr string) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	return &conn{c: c, r: bufio.NewReader(c)}, nil
}

func (c *conn) close() { c.c.Close() }

// do sends a command and returns a simple or bulk string reply.
func (c *conn) do(args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("redis: %s", line[1:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("redis: bad bulk header %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("redis: unexpected reply %q", line)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}
