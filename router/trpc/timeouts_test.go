package trpc

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"
)

// A silent connection is closed after IdleTimeout, one that stops halfway
// through a frame after ReadTimeout; a connection waiting for a slow answer
// is not idle, and is closed only once it has its answer and stays silent.
func TestServerClosesIdleAndStalledConnections(t *testing.T) {
	const idle, stall, slowCall = 400 * time.Millisecond, 250 * time.Millisecond, 900 * time.Millisecond
	s, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", IdleTimeout: idle, ReadTimeout: stall, Log: testLog(t)}, map[string]Handler{
		"/trpc.test.Slow/Wait": func(ctx context.Context, r *ServerRequest) *ServerResponse {
			time.Sleep(slowCall)
			return &ServerResponse{Body: r.Body}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	// closedAfter waits until the server closes nc and returns how long that took.
	closedAfter := func(name string, nc net.Conn, since time.Time) time.Duration {
		t.Helper()
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, nc)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: still open after %v", name, time.Since(since))
		}
		return time.Since(since)
	}

	silent, _ := rawConn(t, s)
	start := time.Now()
	if took := closedAfter("silent", silent, start); took < idle-50*time.Millisecond || took > idle+2*time.Second {
		t.Errorf("silent connection closed after %v, want about %v", took, idle)
	}

	stalled, _ := rawConn(t, s)
	frame, _ := AppendRequest(nil, &trpcpb.RequestProtocol{RequestId: 1, Func: []byte("/trpc.test.Slow/Wait")}, []byte(`1`), 0)
	_, _ = stalled.Write(frame[:HeadLen+2]) // the head and a little: then nothing
	start = time.Now()
	if took := closedAfter("stalled", stalled, start); took > stall+2*time.Second {
		t.Errorf("stalled frame closed after %v, want about %v", took, stall)
	}

	waiting, fr := rawConn(t, s)
	_, _ = waiting.Write(frame)
	start = time.Now()
	if _, rsp, body := readAnswer(t, fr); rsp.Ret != 0 || string(body) != "1" {
		t.Fatalf("slow call answered %v %q", rsp, body)
	}
	if took := time.Since(start); took < slowCall {
		t.Fatalf("answered after %v, before the handler's %v", took, slowCall)
	}
	answered := time.Now()
	if took := closedAfter("silent after its answer", waiting, answered); took < idle-50*time.Millisecond || took > idle+2*time.Second {
		t.Errorf("closed %v after its answer, want about %v", took, idle)
	}
}
