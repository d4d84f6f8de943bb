package redistest

import (
	"fmt"
	"testing"
)

// Server is a standalone redis-server a test can stop and start again on the
// same address, to play a store that goes away (and comes back empty).
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	Addr string
	p    *proc
}

// StartRestartable starts a standalone server like StartServer, and keeps
// what it takes to restart it.
func StartRestartable(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: binary(t, "redis-server"), dir: t.TempDir()}
	for range 5 {
		port, err := freePort(false)
		if err != nil {
			t.Fatalf("redistest: no free port: %v", err)
		}
		s.port, s.Addr = port, fmt.Sprintf("127.0.0.1:%d", port)
		if err := s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("redistest: redis-server did not start")
	return nil
}

func (s *Server) start() error {
	p, err := spawn(s.t, s.bin, s.dir, "restartable", s.port)
	if err == nil {
		err = waitFor(s.Addr, p, func(c *conn) error { _, err := c.do("PING"); return err })
	}
	if err != nil {
		p.kill()
		return err
	}
	s.p = p
	return nil
}

// Kill stops the server at once (SIGKILL); without persistence it forgets everything.
func (s *Server) Kill() { s.p.kill() }

// Start starts it again on the same address.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart on %s: %v", s.Addr, err)
	}
}
