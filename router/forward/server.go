package forward

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Server accepts links from peers and hands their batches to
// ServerConfig.Handler. It upgrades raw TCP connections with gobwas/ws's
// zero-copy Upgrader: no net/http server, one goroutine per peer.
type Server struct {
	cfg  ServerConfig
	ln   net.Listener
	addr string
	auth authenticator
	log  *slog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup

	accepted, refused, frames, envelopes, decodeErrors atomic.Uint64
}

// ServerStats are cumulative counters, plus Open links, for metrics.
type ServerStats struct {
	Accepted     uint64 // links that passed the handshake
	Refused      uint64 // handshakes answered 401
	Frames       uint64 // batches received
	Envelopes    uint64 // envelopes received
	DecodeErrors uint64 // malformed frames, dropped
	Open         int    // links open now
}

// NewServer listens on cfg.Listen and serves until Close.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:   cfg,
		ln:    ln,
		addr:  ln.Addr().String(),
		auth:  authenticator{secret: cfg.Secret, skew: cfg.MaxSkew},
		log:   cfg.Log.With("component", "forward.server", "node", cfg.NodeID),
		conns: make(map[net.Conn]struct{}),
		done:  make(chan struct{}),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.addr }

func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	open := len(s.conns)
	s.mu.Unlock()
	return ServerStats{
		Accepted: s.accepted.Load(), Refused: s.refused.Load(), Frames: s.frames.Load(),
		Envelopes: s.envelopes.Load(), DecodeErrors: s.decodeErrors.Load(), Open: open,
	}
}

// Close stops listening, closes every link and waits for their goroutines,
// including Handler calls in progress.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	pause := 5 * time.Millisecond
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off instead of
			// spinning, as net/http does.
			s.log.Warn("accept", "err", err)
			select {
			case <-s.done:
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, time.Second)
			continue
		}
		pause = 5 * time.Millisecond
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1) // under mu, so Close's Wait cannot start before it
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	from, ok := s.upgrade(c)
	if !ok {
		return
	}
	s.accepted.Add(1)
	log := s.log.With("peer", from, "remote", c.RemoteAddr().String())
	log.Info("peer link up")
	err := s.readLoop(c, from)
	log.Info("peer link down", "err", err)
}

// upgrade runs the WebSocket handshake and authenticates the dialer.
func (s *Server) upgrade(c net.Conn) (node string, ok bool) {
	_ = c.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	var h handshake
	u := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			if string(uri) != linkPath {
				return ws.RejectConnectionError(ws.RejectionStatus(http.StatusNotFound))
			}
			return nil
		},
		OnHeader: func(k, v []byte) error {
			switch {
			case bytes.EqualFold(k, []byte(headerNode)):
				h.node = string(v)
			case bytes.EqualFold(k, []byte(headerTime)):
				h.ts = string(v)
			case bytes.EqualFold(k, []byte(headerNonce)):
				h.nonce = string(v)
			case bytes.EqualFold(k, []byte(headerMAC)):
				h.mac = string(v)
			}
			return nil
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			if err := s.auth.verify(h, c.RemoteAddr(), s.cfg.Now()); err != nil {
				s.refused.Add(1)
				s.log.Warn("peer refused", "peer", h.node, "remote", c.RemoteAddr().String(), "err", err)
				return nil, ws.RejectConnectionError(
					ws.RejectionStatus(http.StatusUnauthorized),
					ws.RejectionReason("forward: "+err.Error()))
			}
			return nil, nil
		},
	}
	// A dialer sends nothing before our 101, so the upgrader's own buffered
	// reader cannot swallow frame bytes.
	if _, err := u.Upgrade(c); err != nil {
		s.log.Debug("handshake", "remote", c.RemoteAddr().String(), "err", err)
		return "", false
	}
	_ = c.SetDeadline(time.Time{})
	return h.node, true
}

// readLoop serves one authenticated link until it fails or closes. This
// goroutine is also the only writer on the connection (pongs, close).
func (s *Server) readLoop(c net.Conn, from string) error {
	fr := &frameReader{br: bufio.NewReaderSize(c, 32<<10), max: s.cfg.MaxFrame}
	dec := newFrameDecoder()
	var out [ws.MaxHeaderSize + maxControl]byte
	for {
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
		h, p, err := fr.next()
		if err != nil {
			return err
		}
		switch h.OpCode {
		case ws.OpBinary:
			envs, err := dec.decode(p, nil)
			fr.release(1 << 20)
			if err != nil {
				// The framing is intact, so one bad frame costs only itself;
				// what it carried is still in the mailbox.
				s.decodeErrors.Add(1)
				s.log.Warn("bad frame", "peer", from, "err", err)
				continue
			}
			s.frames.Add(1)
			s.envelopes.Add(uint64(len(envs)))
			for i := range envs {
				envs[i].From = from
			}
			if len(envs) > 0 {
				s.cfg.Handler(from, envs)
			}
		case ws.OpPing, ws.OpClose:
			op := ws.OpPong
			if h.OpCode == ws.OpClose {
				op = ws.OpClose
			}
			n := copy(out[ws.MaxHeaderSize:], p)
			_ = c.SetWriteDeadline(time.Now().Add(s.cfg.ReadTimeout))
			if err := writeFrame(c, out[:ws.MaxHeaderSize+n], op, false); err != nil {
				return err
			}
			if op == ws.OpClose {
				return errors.New("closed by peer")
			}
		case ws.OpPong:
		default:
			return errors.New("forward: unexpected text frame")
		}
	}
}
