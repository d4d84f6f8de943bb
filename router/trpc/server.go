package trpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"
)

// ServerConfig configures a Server; only Listen is required.
type ServerConfig struct {
	Listen          string        // e.g. "127.0.0.1:8000"; port 0 picks one (see Addr)
	MaxFrame        int           // default DefaultMaxFrame (10 MiB)
	MaxCallsPerConn int           // handlers running at once per connection; default 256
	WriteTimeout    time.Duration // one answer's write; default 10s
	Log             *slog.Logger
}

// Validate reports a configuration that cannot work.
func (c ServerConfig) Validate() error {
	if c.Listen == "" {
		return errors.New("trpc: server needs a listen address")
	}
	if c.MaxFrame < 0 || c.MaxCallsPerConn < 0 || c.WriteTimeout < 0 {
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
	s   *Server
	nc  net.Conn
	wmu sync.Mutex
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
	fr := NewFrameReader(nc, s.cfg.MaxFrame)
	for {
		h, frame, err := fr.ReadFrame()
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
}
