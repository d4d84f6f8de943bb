package trpc

import (
	"context"
	"testing"
	"time"

	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"
)

var benchBody = []byte(`{"to":{"users":["alice"]},"event":"news","data":{"title":"hello","n":42},"ttl":60}`)

func BenchmarkAppendRequest(b *testing.B) {
	b.ReportAllocs()
	req := sampleRequest(1)
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		var err error
		if buf, err = AppendRequest(buf[:0], req, benchBody, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeRequest(b *testing.B) {
	b.ReportAllocs()
	frame, _ := AppendRequest(nil, sampleRequest(1), benchBody, 0)
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, _, _, err := DecodeRequest(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeResponse(b *testing.B) {
	b.ReportAllocs()
	frame, _ := AppendResponse(nil, 1, &trpcpb.ResponseProtocol{RequestId: 1, ContentType: ContentTypeJSON}, []byte(`{"id":"m-1"}`), 0)
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, _, _, err := DecodeResponse(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPoolCall is a whole call, Pool to Server over loopback, from
// many goroutines at once (multiplexed on MaxConnsPerAddr connections).
func BenchmarkPoolCall(b *testing.B) {
	s := startServer(b, map[string]Handler{
		"/trpc.test.Echo/Say": func(ctx context.Context, r *ServerRequest) *ServerResponse {
			return &ServerResponse{Body: r.Body}
		},
	})
	p := newTestPool(b, PoolConfig{})
	addr := s.Addr().String()
	req := say(string(benchBody))
	req.TransInfo = map[string][]byte{"courier-user": []byte("alice")}
	if _, err := p.Call(context.Background(), addr, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(16) // callers in flight per core: what multiplexing is for
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Call(context.Background(), addr, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}
