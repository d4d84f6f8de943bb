package trpc

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"

	"courier/router/testkit"
)

// rawConn talks frames to a server by hand, to send what a Pool never would.
func rawConn(t *testing.T, s *Server) (net.Conn, *FrameReader) {
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	return nc, NewFrameReader(nc, 0)
}

func readAnswer(t *testing.T, fr *FrameReader) (Head, *trpcpb.ResponseProtocol, []byte) {
	t.Helper()
	_, frame, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	h, rsp, body, err := DecodeResponse(frame)
	if err != nil {
		t.Fatal(err)
	}
	return h, rsp, body
}

func TestServerAnswersBadHeaderAndKeepsGoing(t *testing.T) {
	s := startServer(t, echoHandlers())
	nc, fr := rawConn(t, s)
	bad, _ := AppendRequest(nil, sampleRequest(5), []byte("x"), 0)
	bad[HeadLen] = 0xff // the protobuf header no longer parses; the head is sound
	good, _ := AppendRequest(nil, &trpcpb.RequestProtocol{RequestId: 6, Func: []byte("/trpc.test.Echo/Say")}, []byte(`1`), 0)
	nc.Write(append(bad, good...))
	h, rsp, _ := readAnswer(t, fr)
	if h.StreamID != 5 || rsp.Ret != RetServerDecodeFail {
		t.Fatalf("%+v %v", h, rsp)
	}
	if _, rsp, _ := readAnswer(t, fr); rsp.RequestId != 6 || rsp.Ret != 0 {
		t.Fatalf("%v", rsp)
	}
}

func TestServerAnswersInRequestVersion(t *testing.T) {
	s := startServer(t, echoHandlers())
	nc, fr := rawConn(t, s)
	frame, _ := AppendRequest(nil, &trpcpb.RequestProtocol{RequestId: 3, Func: []byte("/trpc.test.Echo/Say")}, []byte(`1`), 0)
	frame[14] = 0 // a protocol v0 peer
	nc.Write(frame)
	if h, _, _ := readAnswer(t, fr); h.Version != 0 || h.StreamID != 3 {
		t.Fatalf("%+v", h)
	}
}

func TestServerClosesOnBrokenFraming(t *testing.T) {
	s := startServer(t, echoHandlers())
	for name, head := range map[string][]byte{
		"magic": {0x12, 0x34, 0, 0, 0, 0, 0, 40, 0, 1, 0, 0, 0, 1, 1, 0},
		"too large": func() []byte {
			b := make([]byte, HeadLen)
			putHead(b, Head{TotalLen: DefaultMaxFrame + 1, HeaderLen: 1})
			return b
		}(),
	} {
		nc, fr := rawConn(t, s)
		nc.Write(head)
		if _, _, err := fr.ReadFrame(); err == nil {
			t.Errorf("%s: connection still open", name)
		}
	}
}

func TestServerIgnoresStreamFramesAndOneway(t *testing.T) {
	var called atomic.Int32
	s := startServer(t, map[string]Handler{
		"/f": func(ctx context.Context, r *ServerRequest) *ServerResponse { called.Add(1); return nil },
	})
	nc, fr := rawConn(t, s)
	stream, _ := AppendRequest(nil, &trpcpb.RequestProtocol{RequestId: 1, Func: []byte("/f")}, nil, 0)
	stream[2] = FrameTypeStream
	oneway, _ := AppendRequest(nil, &trpcpb.RequestProtocol{RequestId: 2, Func: []byte("/f"), CallType: callTypeOneway}, nil, 0)
	unary, _ := AppendRequest(nil, &trpcpb.RequestProtocol{RequestId: 3, Func: []byte("/f")}, nil, 0)
	nc.Write(append(append(stream, oneway...), unary...))
	if _, rsp, body := readAnswer(t, fr); rsp.RequestId != 3 || len(body) != 0 {
		t.Fatalf("%v %q", rsp, body)
	}
	testkit.Eventually(t, 5*time.Second, "the oneway call", func() bool { return called.Load() == 2 })
}

func TestServerHandlerPanicAndDeadline(t *testing.T) {
	s := startServer(t, map[string]Handler{
		"/panic": func(ctx context.Context, r *ServerRequest) *ServerResponse { panic("boom") },
		"/deadline": func(ctx context.Context, r *ServerRequest) *ServerResponse {
			d, ok := ctx.Deadline()
			if !ok || time.Until(d) > r.Timeout {
				return &ServerResponse{FuncRet: 1}
			}
			return nil
		},
	})
	p := newTestPool(t, PoolConfig{})
	_, err := p.Call(context.Background(), s.Addr().String(), &CallRequest{Func: "/panic"})
	var te *Error
	if !errors.As(err, &te) || te.Ret != RetServerSystemErr {
		t.Fatalf("%v", err)
	}
	if _, err := p.Call(context.Background(), s.Addr().String(), &CallRequest{Func: "/deadline", Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
}

func TestServerTooLargeAnswer(t *testing.T) {
	s, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", MaxFrame: 1000, Log: testLog(t)}, map[string]Handler{
		"/big": func(ctx context.Context, r *ServerRequest) *ServerResponse {
			return &ServerResponse{Body: make([]byte, 2000)}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := newTestPool(t, PoolConfig{})
	_, err = p.Call(context.Background(), s.Addr().String(), &CallRequest{Func: "/big"})
	var te *Error
	if !errors.As(err, &te) || te.Ret != int32(trpcpb.TrpcRetCode_TRPC_SERVER_ENCODE_ERR) {
		t.Fatalf("%v", err)
	}
	// A request over the server's limit closes the connection: the call fails, it does not hang.
	_, err = p.Call(context.Background(), s.Addr().String(), &CallRequest{Func: "/big", Body: make([]byte, 2000), Timeout: 2 * time.Second})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%v", err)
	}
}

func TestServerConfig(t *testing.T) {
	if _, err := NewServer(ServerConfig{}, nil); err == nil {
		t.Fatal("no listen address accepted")
	}
	s := startServer(t, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
