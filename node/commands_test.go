package node

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"courier/node/command"
	"courier/node/errcode"
	"courier/router/testkit"
)

type fakeCaller struct {
	calls atomic.Int32
	last  atomic.Pointer[command.Request]
	block chan struct{}
}

func (f *fakeCaller) Call(ctx context.Context, req command.Request) (json.RawMessage, error) {
	f.calls.Add(1)
	f.last.Store(&req)
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
		}
	}
	if req.Name == "/svc.S/Fail" {
		return nil, &command.Error{Code: errcode.BackendError, Message: "nope", FuncRet: 7}
	}
	return json.RawMessage(`{"echo":` + string(req.Data) + `}`), nil
}

func TestCmdEventCallsTheBackendAsTheUser(t *testing.T) {
	n := newTestNode(t, nil)
	f := &fakeCaller{}
	n.commands.Caller = f
	c := connect(t, n, "alice", "phone")
	ack := c.Ask(2*time.Second, "cmd", map[string]any{"name": "/svc.S/Say", "data": map[string]any{"x": 1.0}})
	res := ack[0].(map[string]any)
	if res["ok"] != true || string(res["data"].(json.RawMessage)) != `{"echo":{"x":1}}` {
		t.Fatalf("ack %v", res)
	}
	if r := f.last.Load(); r.User != "alice" || r.Device != "phone" || r.TraceID == "" {
		t.Fatalf("request %+v", r)
	}
	res = c.Ask(2*time.Second, "cmd", map[string]any{"name": "/svc.S/Fail"})[0].(map[string]any)
	if e, _ := res["error"].(*command.Error); res["ok"] != false || e == nil || e.FuncRet != 7 {
		t.Fatalf("failed call answered %v", res)
	}
}

// A slow backend holds neither the client's other events nor more than a
// bounded number of goroutines.
func TestCommandsInFlightAreBounded(t *testing.T) {
	n := newTestNode(t, nil)
	f := &fakeCaller{block: make(chan struct{})}
	n.commands.Caller = f
	c := connect(t, n, "alice", "phone", "*")
	for i := 0; i < command.MaxInFlight; i++ {
		c.Event("cmd", map[string]any{"name": "/svc.S/Slow"}) // answered later
	}
	testkit.Eventually(t, 5*time.Second, "all in flight", func() bool { return f.calls.Load() == command.MaxInFlight })
	res := c.Ask(time.Second, "cmd", map[string]any{"name": "/svc.S/Slow"})[0].(map[string]any)
	if e, _ := res["error"].(*errcode.Error); e == nil || e.Code != errcode.LimitExceeded {
		t.Fatalf("one more answered %v", res)
	}
	if ack := c.Ask(time.Second, "join", map[string]any{"room": "r"}); ack == nil || ack[0].(map[string]any)["ok"] != true {
		t.Fatalf("join while commands wait: %v", ack)
	}
	close(f.block)
}
