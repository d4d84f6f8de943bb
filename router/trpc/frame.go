// Package trpc speaks the tRPC wire protocol: the 16-byte frame head, the
// RequestProtocol / ResponseProtocol headers (the official generated
// protobuf types), a pooled, multiplexed client (Pool) and a unary server
// (Server). Only unary calls are supported: streaming frames are read and
// ignored.
//
// The layout was checked against trpc-go v1.1.0 (codec.go) and is proven by
// the interop tests in ./interop, which run a real tRPC-Go client and server.
package trpc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame head, 16 bytes, big-endian (trpc-go codec.go, protocol v1):
//
//	0-1   magic 0x930
//	2     data frame type (0 unary, 1 stream)
//	3     stream frame type (0 for unary)
//	4-7   total length: head + header + body + attachment
//	8-9   header length (the protobuf RequestProtocol / ResponseProtocol)
//	10-13 stream id; for unary frames of protocol v1 the request id
//	14    protocol version (0 = v0, 1 = v1)
//	15    reserved
const (
	HeadLen         = 16
	Magic           = 0x930
	FrameTypeUnary  = 0
	FrameTypeStream = 1
	// ProtocolVersion is what we send; a server answers with the version of
	// the request (trpc-go does the same for compatibility with v0 peers).
	ProtocolVersion = 1
	// DefaultMaxFrame is trpc-go's DefaultMaxFrameSize: the whole frame,
	// attachment included.
	DefaultMaxFrame = 10 << 20

	// Frames up to this size get their buffer at once; larger ones grow as
	// bytes arrive, so a peer that announces 10 MiB and sends 20 bytes
	// costs 64 KiB, not 10 MiB.
	eagerAlloc = 64 << 10
)

// Frame errors. A reader that returns one of them has lost the framing of
// its stream (except ErrStreamFrame, after which the stream is still in
// step): the connection must be closed.
var (
	ErrBadMagic      = errors.New("trpc: bad frame magic")
	ErrBadFrame      = errors.New("trpc: malformed frame")
	ErrFrameTooLarge = errors.New("trpc: frame too large")
	// ErrStreamFrame is a well-formed streaming frame; streaming is not
	// supported. The frame has been consumed.
	ErrStreamFrame = errors.New("trpc: streaming frames are not supported")
)

// Head is the decoded 16-byte frame head.
type Head struct {
	FrameType       uint8
	StreamFrameType uint8
	TotalLen        uint32
	HeaderLen       uint16
	StreamID        uint32
	Version         uint8
	Reserved        uint8
}

// ParseHead decodes and validates a frame head against maxFrame (<= 0 means
// DefaultMaxFrame). It checks only what the head alone can tell.
func ParseHead(b []byte, maxFrame int) (Head, error) {
	if len(b) < HeadLen {
		return Head{}, fmt.Errorf("%w: head of %d bytes", ErrBadFrame, len(b))
	}
	if m := binary.BigEndian.Uint16(b[0:2]); m != Magic {
		return Head{}, fmt.Errorf("%w: %#x", ErrBadMagic, m)
	}
	h := Head{
		FrameType:       b[2],
		StreamFrameType: b[3],
		TotalLen:        binary.BigEndian.Uint32(b[4:8]),
		HeaderLen:       binary.BigEndian.Uint16(b[8:10]),
		StreamID:        binary.BigEndian.Uint32(b[10:14]),
		Version:         b[14],
		Reserved:        b[15],
	}
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if uint64(h.TotalLen) > uint64(maxFrame) {
		return h, fmt.Errorf("%w: %d bytes > %d", ErrFrameTooLarge, h.TotalLen, maxFrame)
	}
	if uint64(h.TotalLen) < HeadLen+uint64(h.HeaderLen) {
		return h, fmt.Errorf("%w: total length %d < head + header %d", ErrBadFrame, h.TotalLen, HeadLen+int(h.HeaderLen))
	}
	return h, nil
}

func putHead(b []byte, h Head) {
	binary.BigEndian.PutUint16(b[0:2], Magic)
	b[2] = h.FrameType
	b[3] = h.StreamFrameType
	binary.BigEndian.PutUint32(b[4:8], h.TotalLen)
	binary.BigEndian.PutUint16(b[8:10], h.HeaderLen)
	binary.BigEndian.PutUint32(b[10:14], h.StreamID)
	b[14] = h.Version
	b[15] = h.Reserved
}

// FrameReader reads whole frames from a byte stream. Not safe for
// concurrent use: one reader goroutine per connection owns it.
type FrameReader struct {
	r        *bufio.Reader
	maxFrame int
	head     [HeadLen]byte
}

// NewFrameReader reads frames of at most maxFrame bytes (<= 0: DefaultMaxFrame).
func NewFrameReader(r io.Reader, maxFrame int) *FrameReader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	return &FrameReader{r: bufio.NewReaderSize(r, 32<<10), maxFrame: maxFrame}
}

// Buffered is how many bytes of the next frames were read ahead.
func (fr *FrameReader) Buffered() int { return fr.r.Buffered() }

// ReadFrame returns the next whole unary frame, head included, in a new
// buffer the caller owns (handlers keep slices of it). io.EOF means the
// stream ended cleanly between frames; io.ErrUnexpectedEOF mid-frame.
func (fr *FrameReader) ReadFrame() (Head, []byte, error) {
	if _, err := io.ReadFull(fr.r, fr.head[:]); err != nil {
		return Head{}, nil, err
	}
	h, err := ParseHead(fr.head[:], fr.maxFrame)
	if err != nil {
		return h, nil, err
	}
	buf, err := readN(fr.r, fr.head[:], int(h.TotalLen))
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	if h.FrameType != FrameTypeUnary {
		return h, nil, fmt.Errorf("%w (frame type %d)", ErrStreamFrame, h.FrameType)
	}
	return h, buf, nil
}

// readN returns prefix followed by the rest of an n-byte frame read from r.
// It allocates in step with the bytes that actually arrive (see eagerAlloc).
func readN(r io.Reader, prefix []byte, n int) ([]byte, error) {
	size := min(n, eagerAlloc)
	buf := make([]byte, len(prefix), size)
	copy(buf, prefix)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}
