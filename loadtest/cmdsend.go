package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"courier/loadtest/sioclient"
	"courier/router/trpc"
)

// pace calls send(w, seq) for every seq in [0, total) at base + seq/rate:
// an open loop, so a slow answer never delays the next command (no
// coordinated omission). Sender w of n takes seq w, w+n, ...; it returns
// the worst lag of a sender behind the schedule, which says whether the
// tester itself kept up.
func pace(ctx context.Context, base time.Time, rate float64, total, n int, send func(w, seq int)) time.Duration {
	var worst atomic.Int64
	var wg sync.WaitGroup
	interval := float64(time.Second) / rate
	for w := range n {
		wg.Go(func() {
			for seq := w; seq < total && ctx.Err() == nil; seq += n {
				d := time.Until(base.Add(time.Duration(float64(seq) * interval)))
				switch {
				case d >= time.Millisecond: // timer granularity: closer ones go at once
					if sleep(ctx, d) != nil {
						return
					}
				case d < 0:
					for lag := int64(-d); ; {
						cur := worst.Load()
						if lag <= cur || worst.CompareAndSwap(cur, lag) {
							break
						}
					}
				}
				send(w, seq)
			}
		})
	}
	wg.Wait()
	return time.Duration(worst.Load())
}

// cmdArg builds `{"name":<name>,"data":{"seq":N,"pad":".."}}`, the argument
// of the cmd event, into per-sender buffers (Emit copies it into its frame).
type cmdArg struct {
	prefix []byte // {"name":"...","data":
	pad    string
	bufs   [][]byte
}

func newCmdArg(name string, pad, senders int) *cmdArg {
	n, _ := json.Marshal(name)
	a := &cmdArg{pad: strings.Repeat("x", pad), bufs: make([][]byte, senders)}
	a.prefix = append(append([]byte(`{"name":`), n...), `,"data":`...)
	return a
}

func (a *cmdArg) build(w, seq int) []byte {
	b := append(a.bufs[w][:0], a.prefix...)
	b = appendCmdData(b, seq, a.pad)
	b = append(b, '}')
	a.bufs[w] = b
	return b
}

// sendViaNode sends command seq as a cmd event from client seq % N, its
// ack id being seq. Clients take turns, so each sends rate/N per second.
func sendViaNode(f *fleet, rec *cmdRecorder, arg *cmdArg) func(w, seq int) {
	return func(w, seq int) {
		c := f.clients[seq%len(f.clients)]
		if !c.up.Load() {
			rec.notSent(seq, "not connected")
			return
		}
		b := arg.build(w, seq)
		rec.markSent(seq)
		if err := c.conn.Load().Emit(int64(seq), "cmd", b); err != nil {
			rec.notSent(seq, "write: "+errKey(err))
		}
	}
}

// sendDirect makes command seq a tRPC call straight to the backend, with the
// same data and the trans_info a node adds, on its own goroutine (Call
// blocks until the answer). This is the baseline the node path is compared to.
func sendDirect(ctx context.Context, pool *trpc.Pool, cfg Config, rec *cmdRecorder, inflight *sync.WaitGroup) func(w, seq int) {
	callee, _, _ := strings.Cut(strings.TrimPrefix(cfg.CmdName, "/"), "/")
	pad := strings.Repeat("x", cfg.Pad)
	info := map[string][]byte{"courier-user": []byte("lt-direct"), "courier-device": []byte("lt"),
		"courier-trace-id": []byte("0123456789abcdef0123456789abcdef")}
	return func(_, seq int) {
		body := appendCmdData(make([]byte, 0, 32+len(pad)), seq, pad)
		inflight.Go(func() {
			rec.markSent(seq)
			rsp, err := pool.Call(ctx, cfg.Direct, &trpc.CallRequest{Callee: callee, Func: cfg.CmdName, Body: body,
				ContentType: trpc.ContentTypeJSON, TransInfo: info, Timeout: cfg.CmdTimeout})
			code := directErrCode(err)
			if code == "" {
				if got, ok := sioclient.ScanInt(rsp.Body, "seq"); !ok || got != int64(seq) {
					rec.mismatched.Add(1)
				}
			}
			rec.done(int64(seq), code == "", code)
		})
	}
}

// directErrCode names a Pool error with the code the node would answer, so
// both phases' error tables read alike; "" is success.
func directErrCode(err error) string {
	var te *trpc.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &te):
		return "backend_error"
	case errors.Is(err, trpc.ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, trpc.ErrOverloaded):
		return "overloaded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "unavailable"
}
