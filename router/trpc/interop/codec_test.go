package interop

import (
	"context"
	"testing"
	"time"

	ctrpc "courier/router/trpc"

	trpcgo "trpc.group/trpc-go/trpc-go"
	"trpc.group/trpc-go/trpc-go/codec"
	"trpc.group/trpc-go/trpc-go/errs"
	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"
)

// Byte-level agreement, without sockets: trpc-go's client codec encodes a
// request that our decoder reads, and reads the answer our encoder writes;
// trpc-go's server codec reads our request and writes an answer we read.

func TestTRPCGoClientCodecAgainstOurs(t *testing.T) {
	_, msg := codec.WithNewMessage(context.Background())
	msg.WithClientRPCName("/trpc.courier.push.Push/Send")
	msg.WithCalleeServiceName("trpc.courier.push.Push")
	msg.WithSerializationType(codec.SerializationTypeJSON)
	msg.WithClientMetaData(codec.MetaData{"user": []byte("u1")})
	msg.WithRequestTimeout(1500 * time.Millisecond)
	frame, err := trpcgo.DefaultClientCodec.Encode(msg, []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	h, req, body, err := ctrpc.DecodeRequest(frame)
	if err != nil {
		t.Fatal(err)
	}
	if h.StreamID != req.RequestId || h.Version != ctrpc.ProtocolVersion || string(req.Func) != "/trpc.courier.push.Push/Send" ||
		string(req.Callee) != "trpc.courier.push.Push" || req.ContentType != ctrpc.ContentTypeJSON ||
		string(req.TransInfo["user"]) != "u1" || req.Timeout != 1500 || string(body) != `{"a":1}` {
		t.Fatalf("head %+v req %v body %q", h, req, body)
	}

	rspFrame, err := ctrpc.AppendResponse(nil, h.Version, &trpcpb.ResponseProtocol{
		RequestId: req.RequestId, FuncRet: 9, ErrorMsg: []byte("nine"), ContentType: ctrpc.ContentTypeJSON,
	}, []byte(`{"id":"m"}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	rspBody, err := trpcgo.DefaultClientCodec.Decode(msg, rspFrame)
	if err != nil || string(rspBody) != `{"id":"m"}` {
		t.Fatalf("trpc-go decode: %q %v", rspBody, err)
	}
	if e := msg.ClientRspErr(); errs.Code(e) != 9 || errs.Msg(e) != "nine" {
		t.Fatalf("trpc-go saw error %v", e)
	}
}

func TestTRPCGoServerCodecAgainstOurs(t *testing.T) {
	frame, err := ctrpc.AppendRequest(nil, &trpcpb.RequestProtocol{
		RequestId: 77, Timeout: 900, Callee: []byte("trpc.app.echo.Echo"), Func: []byte("/trpc.app.echo.Echo/Say"),
		TransInfo: map[string][]byte{"trace": []byte("t")}, ContentType: ctrpc.ContentTypeJSON,
	}, []byte(`"hi"`), 0)
	if err != nil {
		t.Fatal(err)
	}
	_, msg := codec.WithNewMessage(context.Background())
	body, err := trpcgo.DefaultServerCodec.Decode(msg, frame)
	if err != nil || string(body) != `"hi"` {
		t.Fatalf("trpc-go decode: %q %v", body, err)
	}
	if msg.ServerRPCName() != "/trpc.app.echo.Echo/Say" || msg.CalleeServiceName() != "trpc.app.echo.Echo" ||
		msg.SerializationType() != codec.SerializationTypeJSON || msg.RequestTimeout() != 900*time.Millisecond ||
		string(msg.ServerMetaData()["trace"]) != "t" || msg.ServerReqHead().(*trpcpb.RequestProtocol).RequestId != 77 {
		t.Fatalf("trpc-go saw rpc %q callee %q ser %d timeout %v", msg.ServerRPCName(), msg.CalleeServiceName(), msg.SerializationType(), msg.RequestTimeout())
	}
	msg.WithServerRspErr(errs.NewFrameError(errs.RetServerNoFunc, "no func"))
	rspFrame, err := trpcgo.DefaultServerCodec.Encode(msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, rsp, _, err := ctrpc.DecodeResponse(rspFrame)
	if err != nil || h.StreamID != 77 || rsp.RequestId != 77 || rsp.Ret != ctrpc.RetServerNoFunc || string(rsp.ErrorMsg) != "no func" {
		t.Fatalf("%+v %v %v", h, rsp, err)
	}
}
