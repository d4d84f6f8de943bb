package forward

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gobwas/ws"
)

// maxControl is the largest payload RFC 6455 allows in a control frame.
const maxControl = 125

// writeFrame sends buf[ws.MaxHeaderSize:] as one final frame of op. The
// first ws.MaxHeaderSize bytes of buf are scratch for the header, so header
// and payload leave in a single write without copying the payload. Frames
// from the dialing side are masked as RFC 6455 requires of clients; masking
// is done in place, so the payload is garbage afterwards.
func writeFrame(w io.Writer, buf []byte, op ws.OpCode, masked bool) error {
	payload := buf[ws.MaxHeaderSize:]
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	if masked {
		h.Masked = true
		h.Mask = ws.NewMask()
		ws.Cipher(payload, h.Mask, 0)
	}
	start := ws.MaxHeaderSize - ws.HeaderSize(h)
	putHeader(buf[start:ws.MaxHeaderSize], h)
	_, err := w.Write(buf[start:])
	return err
}

// putHeader is ws.WriteHeader into a slice of exactly ws.HeaderSize(h).
func putHeader(dst []byte, h ws.Header) {
	dst[0] = 0x80 | byte(h.OpCode) // FIN; no RSV bits: no extensions
	n := 2
	switch {
	case h.Length < 126:
		dst[1] = byte(h.Length)
	case h.Length <= 0xffff:
		dst[1] = 126
		binary.BigEndian.PutUint16(dst[2:], uint16(h.Length))
		n = 4
	default:
		dst[1] = 127
		binary.BigEndian.PutUint64(dst[2:], uint64(h.Length))
		n = 10
	}
	if h.Masked {
		dst[1] |= 0x80
		copy(dst[n:], h.Mask[:])
	}
}

// frameReader reads whole frames, reusing one payload buffer.
type frameReader struct {
	br      *bufio.Reader
	scratch [ws.MaxHeaderSize]byte
	buf     []byte
	max     int64 // largest data payload accepted
}

var errFragmented = errors.New("forward: fragmented or extended frame")

// next returns the next frame; its payload is valid until the next call.
// Our senders never fragment and use no extensions, so anything else is a
// protocol error rather than something to reassemble.
func (r *frameReader) next() (ws.Header, []byte, error) {
	h, err := ws.ReadHeaderBuffer(r.br, r.scratch[:])
	if err != nil {
		return h, nil, err
	}
	if !h.Fin || h.Rsv != 0 || h.OpCode == ws.OpContinuation {
		return h, nil, errFragmented
	}
	limit := r.max
	if h.OpCode.IsControl() {
		limit = maxControl
	}
	if h.Length > limit {
		return h, nil, fmt.Errorf("forward: %d-byte frame over the %d limit", h.Length, limit)
	}
	if int64(cap(r.buf)) < h.Length {
		r.buf = make([]byte, h.Length)
	}
	p := r.buf[:h.Length]
	if _, err := io.ReadFull(r.br, p); err != nil {
		return h, nil, err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return h, p, nil
}

// release lets go of a payload buffer a large frame grew, so an idle
// connection keeps little memory.
func (r *frameReader) release(keep int) {
	if cap(r.buf) > keep {
		r.buf = nil
	}
}
