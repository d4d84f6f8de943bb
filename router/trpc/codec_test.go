package trpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"
)

func sampleRequest(id uint32) *trpcpb.RequestProtocol {
	return &trpcpb.RequestProtocol{
		Version:     headerVersion,
		CallType:    callTypeUnary,
		RequestId:   id,
		Timeout:     1500,
		Caller:      []byte("trpc.courier.node.Command"),
		Callee:      []byte("trpc.app.echo.Echo"),
		Func:        []byte("/trpc.app.echo.Echo/Say"),
		TransInfo:   map[string][]byte{"courier-user": []byte("u1"), "trace": {0, 1, 2}},
		ContentType: ContentTypeJSON,
	}
}

func TestRequestRoundTrip(t *testing.T) {
	req := sampleRequest(42)
	body := []byte(`{"hello":"world"}`)
	frame, err := AppendRequest([]byte("prefix"), req, body, 0)
	if err != nil {
		t.Fatal(err)
	}
	frame = frame[len("prefix"):]
	if binary.BigEndian.Uint16(frame) != 0x930 {
		t.Fatalf("magic %x", frame[:2])
	}
	h, got, gotBody, err := DecodeRequest(frame)
	if err != nil {
		t.Fatal(err)
	}
	if h.StreamID != 42 || h.Version != ProtocolVersion || h.FrameType != FrameTypeUnary || int(h.TotalLen) != len(frame) {
		t.Fatalf("head %+v", h)
	}
	if !proto.Equal(got, req) || !bytes.Equal(gotBody, body) {
		t.Fatalf("got %v %q", got, gotBody)
	}
}

func TestResponseRoundTripKeepsVersion(t *testing.T) {
	rsp := &trpcpb.ResponseProtocol{RequestId: 7, Ret: RetServerNoFunc, FuncRet: -3, ErrorMsg: []byte("no"), ContentType: ContentTypeJSON}
	frame, err := AppendResponse(nil, 0, rsp, []byte("{}"), 0)
	if err != nil {
		t.Fatal(err)
	}
	h, got, body, err := DecodeResponse(frame)
	if err != nil || h.Version != 0 || h.StreamID != 7 || !proto.Equal(got, rsp) || string(body) != "{}" {
		t.Fatalf("%+v %v %q %v", h, got, body, err)
	}
}

func TestAttachmentIsStripped(t *testing.T) {
	req := sampleRequest(1)
	frame, _ := AppendRequest(nil, req, []byte("bodyATT"), 0)
	// Rewrite the header claiming a 3-byte attachment, as trpc-go would send.
	req.AttachmentSize = 3
	hdr, _ := proto.Marshal(req)
	frame2 := make([]byte, HeadLen, HeadLen+len(hdr)+7)
	frame2 = append(append(frame2, hdr...), "bodyATT"...)
	putHead(frame2, Head{TotalLen: uint32(len(frame2)), HeaderLen: uint16(len(hdr)), StreamID: 1, Version: 1})
	_, _, body, err := DecodeRequest(frame2)
	if err != nil || string(body) != "body" {
		t.Fatalf("%q %v", body, err)
	}
	_ = frame
}

func TestFrameTooLargeOnEncode(t *testing.T) {
	_, err := AppendRequest(nil, sampleRequest(1), make([]byte, 1000), 500)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatal(err)
	}
}

func TestMalformedFrames(t *testing.T) {
	good, _ := AppendRequest(nil, sampleRequest(9), []byte("x"), 0)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := map[string]struct {
		frame []byte
		want  error
	}{
		"short":        {good[:10], ErrBadFrame},
		"magic":        {mut(func(b []byte) []byte { b[0] = 0; return b }), ErrBadMagic},
		"total<head":   {mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[4:], 3); return b }), ErrBadFrame},
		"total!=len":   {mut(func(b []byte) []byte { return b[:len(b)-1] }), ErrBadFrame},
		"empty header": {mut(func(b []byte) []byte { binary.BigEndian.PutUint16(b[8:], 0); return b }), ErrBadFrame},
		"header>total": {mut(func(b []byte) []byte { binary.BigEndian.PutUint16(b[8:], 60000); return b }), ErrBadFrame},
		"stream":       {mut(func(b []byte) []byte { b[2] = FrameTypeStream; return b }), ErrStreamFrame},
		"bad proto":    {mut(func(b []byte) []byte { b[HeadLen] = 0xff; return b }), ErrBadFrame},
	}
	for name, c := range cases {
		if _, _, _, err := DecodeRequest(c.frame); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestFrameReader(t *testing.T) {
	var stream []byte
	for i := uint32(1); i <= 3; i++ {
		stream, _ = AppendRequest(stream, sampleRequest(i), bytes.Repeat([]byte("b"), int(i)*100000), 0)
	}
	fr := NewFrameReader(bytes.NewReader(stream), 0)
	for i := uint32(1); i <= 3; i++ {
		h, frame, err := fr.ReadFrame()
		if err != nil || h.StreamID != i {
			t.Fatalf("frame %d: %+v %v", i, h, err)
		}
		if _, _, body, err := DecodeRequest(frame); err != nil || len(body) != int(i)*100000 {
			t.Fatalf("frame %d: %d %v", i, len(body), err)
		}
	}
	if _, _, err := fr.ReadFrame(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	// Truncated mid-frame.
	fr = NewFrameReader(bytes.NewReader(stream[:200]), 0)
	if _, _, err := fr.ReadFrame(); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated: %v", err)
	}
}

func TestFrameReaderLimits(t *testing.T) {
	frame, _ := AppendRequest(nil, sampleRequest(1), make([]byte, 2000), 0)
	if _, _, err := NewFrameReader(bytes.NewReader(frame), 1000).ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("small limit: %v", err)
	}
	// 10 MiB + 1 announced: refused from the head alone, before any allocation.
	head := make([]byte, HeadLen)
	putHead(head, Head{TotalLen: DefaultMaxFrame + 1, HeaderLen: 1})
	if _, _, err := NewFrameReader(bytes.NewReader(head), 0).ReadFrame(); !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "10485761") {
		t.Fatalf("default limit: %v", err)
	}
	// A stream frame is consumed whole: the next frame still reads.
	stream := append([]byte(nil), frame...)
	stream[2] = FrameTypeStream
	stream = append(stream, frame...)
	fr := NewFrameReader(bytes.NewReader(stream), 0)
	if _, _, err := fr.ReadFrame(); !errors.Is(err, ErrStreamFrame) {
		t.Fatal(err)
	}
	if _, _, err := fr.ReadFrame(); err != nil {
		t.Fatal(err)
	}
}

func TestLargeAnnouncedFrameAllocatesAsItArrives(t *testing.T) {
	head := make([]byte, HeadLen)
	putHead(head, Head{TotalLen: DefaultMaxFrame, HeaderLen: 1})
	var ms1, ms2 runtimeMem
	ms1.read()
	for range 10 {
		NewFrameReader(bytes.NewReader(append(head, 1, 2, 3)), 0).ReadFrame()
	}
	ms2.read()
	if d := ms2.total - ms1.total; d > 10*(1<<20) {
		t.Fatalf("%d bytes allocated for 10 tiny frames announcing 10 MiB", d)
	}
}

func TestEmptyHeaderStillEncodes(t *testing.T) {
	frame, err := AppendResponse(nil, 1, &trpcpb.ResponseProtocol{}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, rsp, _, err := DecodeResponse(frame); err != nil || rsp.RequestId != 0 {
		t.Fatalf("%v %v", rsp, err)
	}
	if _, _, _, err := DecodeRequest(frame); err != nil {
		t.Fatal(err)
	}
}
