package trpc

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"
	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"
)

// Values of the protocol headers we use; the names are the official enums.
const (
	// ContentTypeJSON is TRPC_JSON_ENCODE: trpc-go serializes such bodies
	// with its JSON (jsonpb / json-iterator) serializer.
	ContentTypeJSON = uint32(trpcpb.TrpcContentEncodeType_TRPC_JSON_ENCODE)
	// ContentTypeProto is the default of the protocol (value 0).
	ContentTypeProto = uint32(trpcpb.TrpcContentEncodeType_TRPC_PROTO_ENCODE)

	callTypeUnary  = uint32(trpcpb.TrpcCallType_TRPC_UNARY_CALL)
	callTypeOneway = uint32(trpcpb.TrpcCallType_TRPC_ONEWAY_CALL)
	headerVersion  = uint32(trpcpb.TrpcProtoVersion_TRPC_PROTO_V1)
)

// Framework return codes (trpc-go errs: RetServerNoFunc and friends).
const (
	RetServerDecodeFail = int32(trpcpb.TrpcRetCode_TRPC_SERVER_DECODE_ERR)    // 1
	RetServerNoService  = int32(trpcpb.TrpcRetCode_TRPC_SERVER_NOSERVICE_ERR) // 11
	RetServerNoFunc     = int32(trpcpb.TrpcRetCode_TRPC_SERVER_NOFUNC_ERR)    // 12
	RetServerTimeout    = int32(trpcpb.TrpcRetCode_TRPC_SERVER_TIMEOUT_ERR)   // 21
	RetServerSystemErr  = int32(trpcpb.TrpcRetCode_TRPC_SERVER_SYSTEM_ERR)    // 31
	RetUnknown          = int32(trpcpb.TrpcRetCode_TRPC_INVOKE_UNKNOWN_ERR)   // 999
)

// AppendRequest appends a whole unary request frame for req and body to dst.
// The frame's stream id is req.RequestId (protocol v1). Attachments are not
// supported, so req.AttachmentSize is forced to 0.
func AppendRequest(dst []byte, req *trpcpb.RequestProtocol, body []byte, maxFrame int) ([]byte, error) {
	req.AttachmentSize = 0
	return appendFrame(dst, req.RequestId, ProtocolVersion, req, body, maxFrame)
}

// AppendResponse appends a whole unary response frame to dst. version is the
// protocol version of the request being answered.
func AppendResponse(dst []byte, version uint8, rsp *trpcpb.ResponseProtocol, body []byte, maxFrame int) ([]byte, error) {
	rsp.AttachmentSize = 0
	return appendFrame(dst, rsp.RequestId, version, rsp, body, maxFrame)
}

func appendFrame(dst []byte, streamID uint32, version uint8, header proto.Message, body []byte, maxFrame int) ([]byte, error) {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	start := len(dst)
	dst = append(dst, make([]byte, HeadLen)...)
	dst, err := proto.MarshalOptions{}.MarshalAppend(dst, header)
	if err != nil {
		return dst[:start], fmt.Errorf("trpc: encode header: %w", err)
	}
	if len(dst) == start+HeadLen {
		// An all-default header marshals to nothing, and a unary frame with
		// an empty header is refused (by trpc-go too): write version = 0
		// explicitly (field 1 in both headers), which decodes to the same.
		// Found by FuzzReadFrame.
		dst = append(dst, 0x08, 0x00)
	}
	headerLen := len(dst) - start - HeadLen
	if headerLen > math.MaxUint16 {
		return dst[:start], fmt.Errorf("%w: header of %d bytes", ErrFrameTooLarge, headerLen)
	}
	total := HeadLen + headerLen + len(body)
	if total > maxFrame || uint64(total) > math.MaxUint32 {
		return dst[:start], fmt.Errorf("%w: %d bytes > %d", ErrFrameTooLarge, total, maxFrame)
	}
	dst = append(dst, body...)
	putHead(dst[start:], Head{
		FrameType: FrameTypeUnary,
		TotalLen:  uint32(total),
		HeaderLen: uint16(headerLen),
		StreamID:  streamID,
		Version:   version,
	})
	return dst, nil
}

// DecodeRequest splits one whole request frame into its head, header and
// body. The body aliases frame; an attachment, if any, is dropped.
func DecodeRequest(frame []byte) (Head, *trpcpb.RequestProtocol, []byte, error) {
	req := &trpcpb.RequestProtocol{}
	h, hdr, rest, err := splitFrame(frame)
	if err != nil {
		return h, nil, nil, err
	}
	if err := proto.Unmarshal(hdr, req); err != nil {
		return h, nil, nil, fmt.Errorf("%w: request header: %v", ErrBadFrame, err)
	}
	body, err := stripAttachment(rest, req.AttachmentSize)
	return h, req, body, err
}

// DecodeResponse is DecodeRequest for a response frame.
func DecodeResponse(frame []byte) (Head, *trpcpb.ResponseProtocol, []byte, error) {
	rsp := &trpcpb.ResponseProtocol{}
	h, hdr, rest, err := splitFrame(frame)
	if err != nil {
		return h, nil, nil, err
	}
	if err := proto.Unmarshal(hdr, rsp); err != nil {
		return h, nil, nil, fmt.Errorf("%w: response header: %v", ErrBadFrame, err)
	}
	body, err := stripAttachment(rest, rsp.AttachmentSize)
	return h, rsp, body, err
}

// splitFrame checks a whole unary frame and returns its protobuf header and
// what follows it (body + attachment).
func splitFrame(frame []byte) (Head, []byte, []byte, error) {
	h, err := ParseHead(frame, math.MaxInt32)
	if err != nil {
		return h, nil, nil, err
	}
	if int64(h.TotalLen) != int64(len(frame)) {
		return h, nil, nil, fmt.Errorf("%w: total length %d, frame of %d bytes", ErrBadFrame, h.TotalLen, len(frame))
	}
	if h.FrameType != FrameTypeUnary {
		return h, nil, nil, fmt.Errorf("%w (frame type %d)", ErrStreamFrame, h.FrameType)
	}
	if h.HeaderLen == 0 { // trpc-go refuses an empty header too
		return h, nil, nil, fmt.Errorf("%w: empty header", ErrBadFrame)
	}
	end := HeadLen + int(h.HeaderLen)
	return h, frame[HeadLen:end], frame[end:], nil
}

func stripAttachment(rest []byte, size uint32) ([]byte, error) {
	if uint64(size) > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: attachment of %d bytes, %d left", ErrBadFrame, size, len(rest))
	}
	return rest[:len(rest)-int(size)], nil
}
