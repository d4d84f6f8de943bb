package trpc

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"
)

// The fuzz targets prove the decoders turn any input into frames or errors:
// no panic, no hang, no allocation beyond what the input justifies. The
// corpus the fuzzer found interesting is committed under testdata/fuzz.

func fuzzSeeds(f *testing.F) {
	req, _ := AppendRequest(nil, sampleRequest(3), []byte(`{"a":1}`), 0)
	rsp, _ := AppendResponse(nil, 1, &trpcpb.ResponseProtocol{RequestId: 3, Ret: 12, ErrorMsg: []byte("no func"), TransInfo: map[string][]byte{"k": []byte("v")}}, []byte("{}"), 0)
	f.Add(req)
	f.Add(rsp)
	f.Add(append(append([]byte(nil), req...), rsp...))
	f.Add(req[:HeadLen])
	f.Add(req[:len(req)-2])
	stream := append([]byte(nil), req...)
	stream[2] = FrameTypeStream
	f.Add(stream)
	big := append([]byte(nil), req[:HeadLen]...)
	putHead(big, Head{TotalLen: DefaultMaxFrame, HeaderLen: 10})
	f.Add(big)
}

// FuzzReadFrame feeds arbitrary bytes to the stream reader (as a connection
// would) and decodes every frame it yields both ways; any frame that
// decodes must re-encode to something that decodes to the same values.
func FuzzReadFrame(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := NewFrameReader(bytes.NewReader(data), 1<<20)
		for range 64 { // each frame consumes >= 16 bytes: the loop ends anyway
			h, frame, err := fr.ReadFrame()
			if errors.Is(err, ErrStreamFrame) {
				continue
			}
			if err != nil {
				return
			}
			if int(h.TotalLen) != len(frame) || h.TotalLen > 1<<20 {
				t.Fatalf("head %+v, frame of %d", h, len(frame))
			}
			checkRequest(t, frame)
			checkResponse(t, frame)
		}
	})
}

// FuzzDecode runs the whole-frame decoders on arbitrary buffers, the way a
// transport that already split frames would.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if _, err := ParseHead(frame, 1<<20); err != nil && len(frame) >= HeadLen &&
			!errors.Is(err, ErrBadMagic) && !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("unclassified head error %v", err)
		}
		checkRequest(t, frame)
		checkResponse(t, frame)
	})
}

func checkRequest(t *testing.T, frame []byte) {
	h, req, body, err := DecodeRequest(frame)
	if err != nil {
		return
	}
	if len(body) > len(frame)-HeadLen-int(h.HeaderLen) {
		t.Fatalf("body of %d from frame of %d", len(body), len(frame))
	}
	again, err := AppendRequest(nil, req, body, 0)
	if err != nil {
		if errors.Is(err, ErrFrameTooLarge) {
			return // a re-encoded header may be longer (unknown fields are kept)
		}
		t.Fatalf("re-encode: %v", err)
	}
	_, req2, body2, err := DecodeRequest(again)
	if err != nil || !proto.Equal(req, req2) || !bytes.Equal(body, body2) {
		t.Fatalf("round trip: %v", err)
	}
}

func checkResponse(t *testing.T, frame []byte) {
	h, rsp, body, err := DecodeResponse(frame)
	if err != nil {
		return
	}
	again, err := AppendResponse(nil, h.Version, rsp, body, 0)
	if err != nil {
		if errors.Is(err, ErrFrameTooLarge) {
			return
		}
		t.Fatalf("re-encode: %v", err)
	}
	h2, rsp2, body2, err := DecodeResponse(again)
	if err != nil || h2.Version != h.Version || !proto.Equal(rsp, rsp2) || !bytes.Equal(body, body2) {
		t.Fatalf("round trip: %v", err)
	}
}
