package forward

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gobwas/ws"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"courier/router/mailbox"
)

// A frame's payload is one msgpack array of envelopes. The encoder always
// writes the array32 form (0xdd + uint32 count) so it can reserve the header
// and fill the count in after it has decided how many envelopes fit.
const arrayHeaderLen = 5

// ErrMalformed wraps every frame decoding failure.
var ErrMalformed = errors.New("forward: malformed frame")

// batchEncoder builds batch frames into one reused buffer. Not safe for
// concurrent use: each link writer owns one.
type batchEncoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

func newBatchEncoder() *batchEncoder {
	b := &batchEncoder{}
	b.enc = msgpack.NewEncoder(&b.buf)
	return b
}

// encode puts envs[:n] in the buffer and returns n: at least one envelope,
// at most maxN, and no more once the payload has reached maxBytes. The
// buffer starts with ws.MaxHeaderSize spare bytes so the WebSocket header
// can be put in front without copying the payload (see writeFrame).
func (b *batchEncoder) encode(envs []Envelope, maxN, maxBytes int) (int, error) {
	b.buf.Reset()
	var head [ws.MaxHeaderSize + arrayHeaderLen]byte
	b.buf.Write(head[:])
	n := 0
	for n < len(envs) && n < maxN {
		if n > 0 && b.buf.Len()-len(head) >= maxBytes {
			break
		}
		if err := encodeEnvelope(b.enc, &envs[n]); err != nil {
			return 0, err
		}
		n++
	}
	p := b.buf.Bytes()[ws.MaxHeaderSize:]
	p[0] = msgpcode.Array32
	binary.BigEndian.PutUint32(p[1:arrayHeaderLen], uint32(n))
	return n, nil
}

// frame is the buffer: ws.MaxHeaderSize spare bytes, then the payload.
func (b *batchEncoder) frame() []byte { return b.buf.Bytes() }

// payload is the encoded batch alone.
func (b *batchEncoder) payload() []byte { return b.buf.Bytes()[ws.MaxHeaderSize:] }

// shrink drops a buffer that one huge batch blew up, so an idle link does not
// keep it.
func (b *batchEncoder) shrink(limit int) {
	if b.buf.Cap() > limit {
		b.buf = bytes.Buffer{}
	}
}

func encodeEnvelope(enc *msgpack.Encoder, e *Envelope) error {
	n := fieldsNoMsg
	switch {
	case e.Msg.Trace != "":
		n = fieldsTrace
	case e.hasMsg():
		n = fieldsMsg
	}
	// Errors come only from the writer, and writes to a bytes.Buffer cannot
	// fail: the results are ignored rather than checked thirty times.
	_ = enc.EncodeArrayLen(n)
	_ = enc.EncodeUint(uint64(e.Kind))
	_ = enc.EncodeString(string(e.Stream))
	_ = enc.EncodeString(e.User)
	_ = enc.EncodeString(e.Room)
	if e.Users == nil {
		_ = enc.EncodeNil()
	} else {
		_ = enc.EncodeArrayLen(len(e.Users))
		for _, u := range e.Users {
			_ = enc.EncodeString(u)
		}
	}
	if n == fieldsNoMsg {
		return nil
	}
	m := &e.Msg
	_ = enc.EncodeString(m.ID)
	_ = enc.EncodeUint(m.Seq)
	_ = enc.EncodeString(m.Event)
	_ = enc.EncodeBytes(m.Data)
	_ = enc.EncodeInt(m.TS)
	_ = enc.EncodeInt(m.Expires)
	_ = enc.EncodeString(m.Room)
	if n == fieldsTrace {
		_ = enc.EncodeString(m.Trace)
	}
	return nil
}

// frameDecoder decodes batch payloads. Not safe for concurrent use: each
// server connection owns one. Decoded envelopes share no memory with the
// payload, so the caller may reuse the payload buffer at once.
type frameDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

func newFrameDecoder() *frameDecoder {
	d := &frameDecoder{}
	// bytes.Reader is an io.ByteScanner, so msgpack reads it directly and
	// r.Len() is exactly what is left: the bounds checks below rely on it.
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}

// DecodeFrame decodes one frame payload. Malformed input gives an error
// wrapping ErrMalformed, never a panic.
func DecodeFrame(p []byte) ([]Envelope, error) {
	return newFrameDecoder().decode(p, nil)
}

// decode appends the envelopes of payload p to dst.
func (d *frameDecoder) decode(p []byte, dst []Envelope) ([]Envelope, error) {
	d.r.Reset(p)
	n, err := d.arrayLen()
	if err == nil && n < 0 {
		err = errors.New("nil batch")
	}
	if err != nil {
		return dst, fmt.Errorf("%w: batch: %v", ErrMalformed, err)
	}
	for i := 0; i < n; i++ {
		dst = append(dst, Envelope{})
		if err := d.envelope(&dst[len(dst)-1]); err != nil {
			return dst[:len(dst)-1], fmt.Errorf("%w: envelope %d: %v", ErrMalformed, i, err)
		}
	}
	if d.r.Len() != 0 {
		return dst, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, d.r.Len())
	}
	return dst, nil
}

// arrayLen reads an array header (-1 for nil) whose count the remaining
// bytes can hold, so a forged count cannot make us allocate a huge slice.
func (d *frameDecoder) arrayLen() (int, error) {
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return 0, err
	}
	if n > d.r.Len() {
		return 0, fmt.Errorf("array of %d in %d bytes", n, d.r.Len())
	}
	return n, nil
}

func (d *frameDecoder) envelope(e *Envelope) error {
	n, err := d.arrayLen()
	if err != nil {
		return err
	}
	if n < 1 {
		return errors.New("no kind")
	}
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			var k uint64
			if k, err = d.dec.DecodeUint64(); err == nil && k > 255 {
				err = fmt.Errorf("kind %d", k)
			}
			e.Kind = Kind(k)
		case 1:
			var s string
			s, err = d.dec.DecodeString()
			e.Stream = mailbox.Stream(s)
		case 2:
			e.User, err = d.dec.DecodeString()
		case 3:
			e.Room, err = d.dec.DecodeString()
		case 4:
			e.Users, err = d.users()
		case 5:
			e.Msg.ID, err = d.dec.DecodeString()
		case 6:
			e.Msg.Seq, err = d.dec.DecodeUint64()
		case 7:
			e.Msg.Event, err = d.dec.DecodeString()
		case 8:
			e.Msg.Data, err = d.bytes()
		case 9:
			e.Msg.TS, err = d.dec.DecodeInt64()
		case 10:
			e.Msg.Expires, err = d.dec.DecodeInt64()
		case 11:
			e.Msg.Room, err = d.dec.DecodeString()
		case 12:
			e.Msg.Trace, err = d.dec.DecodeString()
		default:
			err = d.skipScalar()
		}
	}
	return err
}

// bytes reads a bin field. msgpack's DecodeBytes allocates whatever length
// the header claims (a forged 4 GB bin would take 4 GB), so the length is
// checked against what the frame holds first.
func (d *frameDecoder) bytes() ([]byte, error) {
	n, err := d.dec.DecodeBytesLen()
	if err != nil || n < 0 {
		return nil, err
	}
	if n > d.r.Len() {
		return nil, fmt.Errorf("%d bytes in %d", n, d.r.Len())
	}
	b := make([]byte, n)
	_, err = io.ReadFull(&d.r, b)
	return b, err
}

func (d *frameDecoder) users() ([]string, error) {
	n, err := d.arrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	users := make([]string, n)
	for i := range users {
		if users[i], err = d.dec.DecodeString(); err != nil {
			return nil, err
		}
	}
	return users, nil
}

// skipScalar skips a field from a newer sender. Containers are refused:
// msgpack's Skip recurses, and a frame of nested arrays would exhaust the
// stack. A future field that needs one comes with a protocol version bump.
func (d *frameDecoder) skipScalar() error {
	c, err := d.dec.PeekCode()
	if err != nil {
		return err
	}
	if msgpcode.IsFixedArray(c) || msgpcode.IsFixedMap(c) || c == msgpcode.Array16 ||
		c == msgpcode.Array32 || c == msgpcode.Map16 || c == msgpcode.Map32 {
		return fmt.Errorf("unknown field of code %#x", c)
	}
	return d.dec.Skip()
}
