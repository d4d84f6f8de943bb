package trpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"
)

// ServerConfig configures a Server; only Listen is required.
type ServerConfig struct {
	Listen          string        // e.g. "127.0.0.1:8000"; port 0 picks one (see Addr)
	MaxFrame        int           // default DefaultMaxFrame (10 MiB)
	MaxCallsPerConn int           // handlers running at once per connection; default 256
	WriteTimeout    time.Duration // one answer's write; default 10s
	// IdleTimeout closes a connection that sent nothing this long while
	// none of its calls ran (default 60s, as tRPC-Go's server); ReadTimeout
	// closes one that took this long to send the rest of a frame it began
	// (default 10s). A silent or stalled client holds no goroutine and no
	// file for long.
	IdleTimeout time.Duration
	ReadTimeout time.Duration
	Log         *slog.Logger
}

// Validate reports a configuration that cannot work.
func (c ServerConfig) Validate() error {
	if c.Listen == "" {
		return errors.New("trpc: server needs a listen address")
	}
	if c.MaxFrame < 0 || c.MaxCallsPerConn < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0 || c.ReadTimeout < 0 {
		return errors.New("trpc: negative server limit")
	}
	return nil
}

// ServerRequest is one decoded unary request.
type ServerRequest struct {
	Caller, Callee string
	Func           string // "/pkg.Service/Method"
	Body           []byte // owned by the handler
	ContentType    uint32
	TransInfo      map[string][]byte
	Timeout        time.Duration // what the caller allows, 0 = none; ctx carries it too
	RemoteAddr     net.Addr
}

// ServerResponse is a handler's answer: Body, or an error as Ret (framework
// code) / FuncRet (application code) with ErrorMsg. ContentType 0 answers in
// the request's content type.
type ServerResponse struct {
	Body        []byte
	ContentType uint32
	Ret         int32
	FuncRet     int32
	ErrorMsg    string
	TransInfo   map[string][]byte
}

// Handler serves one func. It may block; its ctx ends at the caller's
// timeout, when the connection closes, or when the server closes.
// A nil response is an empty body.
type Handler func(ctx context.Context, req *ServerRequest) *ServerResponse

// Server serves unary tRPC calls: each connection reads frames in order
// and runs their handlers concurrently, answering by request id. Safe for
// concurrent use.
type Server struct {
	cfg      ServerConfig
	log      *slog.Logger
	handlers map[string]Handler
	ln       net.Listener
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool
}

// NewServer listens on cfg.Listen and serves handlers (keyed by func name)
// until Close.
func NewServer(cfg ServerConfig, handlers map[string]Handler) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.MaxCallsPerConn == 0 {
		cfg.MaxCallsPerConn = 256
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("trpc: listen: %w", err)
	}
	hs := make(map[string]Handler, len(handlers))
	for k, v := range handlers {
		hs[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, log: cfg.Log.With("component", "trpc.server"), handlers: hs,
		ln: ln, ctx: ctx, cancel: cancel, conns: make(map[net.Conn]struct{}),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops listening, cancels running handlers, closes every connection
// and waits for the server's goroutines. Idempotent.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	s.closing = true
	for nc := range s.conns {
		_ = nc.Close()
	}
	s.mu.Unlock()
	s.cancel() // after the conns close: a cancelled handler's answer goes nowhere
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("accept", "err", err)
			}
			return
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.conns[nc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(nc)
	}
}

// serverConn is one client connection: its reader (serveConn) and the
// handlers it started, which write answers under wmu.
type serverConn struct {
	s      *Server
	nc     net.Conn
	wmu    sync.Mutex
	active atomic.Int64 // unix ns of the last frame read or answer written
}

func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(s.ctx)
	var calls sync.WaitGroup
	defer func() {
		cancel()
		_ = nc.Close()
		calls.Wait()
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
	}()
	c := &serverConn{s: s, nc: nc}
	sem := make(chan struct{}, s.cfg.MaxCallsPerConn) // full: stop reading (backpressure)
	dl := &readDeadlines{nc: nc, stall: s.cfg.ReadTimeout}
	fr := NewFrameReader(dl, s.cfg.MaxFrame)
	c.active.Store(time.Now().UnixNano())
	for {
		// Idle counts from the last frame or answer, so a client waiting
		// for a slow answer is not idle.
		idleLeft := s.cfg.IdleTimeout - time.Since(time.Unix(0, c.active.Load()))
		if len(sem) > 0 {
			idleLeft = s.cfg.IdleTimeout // its calls run: look again after a while
		}
		dl.next(fr.Buffered() > 0, idleLeft)
		h, frame, err := fr.ReadFrame()
		if dl.idled(err) && (len(sem) > 0 || time.Since(time.Unix(0, c.active.Load())) < s.cfg.IdleTimeout) {
			continue // its calls run, or one just answered
		}
		if err == nil {
			c.active.Store(time.Now().UnixNano())
		}
		if errors.Is(err, ErrStreamFrame) {
			s.log.Debug("streaming frame ignored", "remote", nc.RemoteAddr())
			continue
		}
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("connection ends", "remote", nc.RemoteAddr(), "err", err)
			}
			return
		}
		_, req, body, err := DecodeRequest(frame)
		if err != nil {
			// The head was sound, so the stream is in step: answer the
			// decode error to the request id of the head, as trpc-go does.
			c.reply(h.Version, &trpcpb.ResponseProtocol{Version: headerVersion, RequestId: h.StreamID, Ret: RetServerDecodeFail, ErrorMsg: []byte(err.Error())}, nil)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		calls.Add(1)
		go func() {
			defer calls.Done()
			defer func() { <-sem }()
			c.handle(ctx, h.Version, req, body)
		}()
	}
}

func (c *serverConn) handle(ctx context.Context, version uint8, req *trpcpb.RequestProtocol, body []byte) {
	sr := &ServerRequest{
		Caller: string(req.Caller), Callee: string(req.Callee), Func: string(req.Func),
		Body: body, ContentType: req.ContentType, TransInfo: req.TransInfo,
		Timeout:    time.Duration(req.Timeout) * time.Millisecond,
		RemoteAddr: c.nc.RemoteAddr(),
	}
	if sr.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sr.Timeout)
		defer cancel()
	}
	rsp := c.run(ctx, sr)
	if req.CallType == callTypeOneway {
		return
	}
	ct := rsp.ContentType
	if ct == 0 {
		ct = req.ContentType
	}
	c.reply(version, &trpcpb.ResponseProtocol{
		Version: headerVersion, CallType: req.CallType, RequestId: req.RequestId,
		Ret: rsp.Ret, FuncRet: rsp.FuncRet, ErrorMsg: []byte(rsp.ErrorMsg),
		MessageType: req.MessageType, TransInfo: rsp.TransInfo, ContentType: ct,
	}, rsp.Body)
}

// run calls the func's handler; an unknown func gets trpc-go's "no such
// func" code and a panicking handler a system error, never a dead server.
func (c *serverConn) run(ctx context.Context, req *ServerRequest) (rsp *ServerResponse) {
	h := c.s.handlers[req.Func]
	if h == nil {
		return &ServerResponse{Ret: RetServerNoFunc, ErrorMsg: fmt.Sprintf("service handle: rpc name %s invalid, current service:%s", req.Func, req.Callee)}
	}
	defer func() {
		if p := recover(); p != nil {
			c.s.log.Error("handler panic", "func", req.Func, "panic", p)
			rsp = &ServerResponse{Ret: RetServerSystemErr, ErrorMsg: "handler panic"}
		}
	}()
	if rsp = h(ctx, req); rsp == nil {
		rsp = &ServerResponse{}
	}
	return rsp
}

func (c *serverConn) reply(version uint8, rsp *trpcpb.ResponseProtocol, body []byte) {
	frame, err := AppendResponse(nil, version, rsp, body, c.s.cfg.MaxFrame)
	if err != nil {
		// Too large: answer the error instead of the body, as trpc-go does.
		rsp.TransInfo, rsp.Ret, rsp.ErrorMsg = nil, int32(trpcpb.TrpcRetCode_TRPC_SERVER_ENCODE_ERR), []byte(err.Error())
		if frame, err = AppendResponse(nil, version, rsp, nil, c.s.cfg.MaxFrame); err != nil {
			c.s.log.Error("encode answer", "err", err)
			return
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if _, err := c.nc.Write(frame); err != nil {
		c.s.log.Debug("write answer", "err", err)
		_ = c.nc.Close() // a partial frame breaks the stream
	}
	c.active.Store(time.Now().UnixNano())
}

// readDeadlines bounds the reads of a connection: up to idle for the first
// byte of a frame, then up to stall for the rest of it.
type readDeadlines struct {
	nc      net.Conn
	stall   time.Duration
	waiting bool // no byte of the next frame has come yet
}

// next arms the deadline for the next frame: idle from now when none of it
// came yet, else stall (begun: part of it is already buffered).
func (d *readDeadlines) next(begun bool, idle time.Duration) {
	d.waiting = !begun
	bound := idle
	if begun {
		bound = d.stall
	}
	_ = d.nc.SetReadDeadline(time.Now().Add(bound))
}

func (d *readDeadlines) Read(p []byte) (int, error) {
	n, err := d.nc.Read(p)
	if n > 0 && d.waiting {
		d.waiting = false
		_ = d.nc.SetReadDeadline(time.Now().Add(d.stall))
	}
	return n, err
}

// idled reports err as the idle bound passing before a frame began.
func (d *readDeadlines) idled(err error) bool {
	var ne net.Error
	return d.waiting && errors.As(err, &ne) && ne.Timeout()
}
