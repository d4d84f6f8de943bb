package sioclient

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/gobwas/ws"
)

// WebSocket framing, by hand rather than through wsutil: a reader per message
// and a masked copy per write would allocate on every packet.

// writeText sends payload as one masked text frame, after any acks still
// held, in one write. The caller holds c.wmu.
func (c *Conn) writeText(payload []byte) error {
	c.appendFrame(payload)
	return c.flushLocked()
}

// appendFrame adds payload as one masked text frame to the bytes held for
// the next write (payload may alias c.wbuf). The caller holds c.wmu.
func (c *Conn) appendFrame(payload []byte) {
	n := len(payload)
	frame := c.pend
	frame = append(frame, 0x80|byte(ws.OpText))
	switch {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	case n <= 0xffff:
		frame = append(frame, 0x80|126)
		frame = binary.BigEndian.AppendUint16(frame, uint16(n))
	default:
		frame = append(frame, 0x80|127)
		frame = binary.BigEndian.AppendUint64(frame, uint64(n))
	}
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
	frame = append(frame, mask[:]...)
	start := len(frame)
	frame = append(frame, payload...)
	ws.Cipher(frame[start:], mask, 0)
	c.pend = frame
}

// flushLocked writes the held frames in one write. The caller holds c.wmu.
func (c *Conn) flushLocked() error {
	if len(c.pend) == 0 {
		return nil
	}
	_, err := c.nc.Write(c.pend)
	if cap(c.pend) > 4096 {
		c.pend = nil // a CONNECT or a big Emit: an idle client keeps no big buffer
	} else {
		c.pend = c.pend[:0]
	}
	return err
}

// readMessage reads one complete data message (joining continuation frames
// and answering control frames) into a pooled buffer. The caller must call
// c.release once done with msg.
func (c *Conn) readMessage() (msg []byte, err error) {
	c.cur = bufPool.Get().(*[]byte)
	buf := (*c.cur)[:0]
	for {
		fin, op, n, err := c.readHeader()
		if err != nil {
			c.release()
			return nil, err
		}
		if op.IsControl() {
			if err := c.control(op, n); err != nil {
				c.release()
				return nil, err
			}
			continue
		}
		if n > 16<<20 {
			c.release()
			return nil, fmt.Errorf("sioclient: frame of %d bytes", n)
		}
		off := len(buf)
		buf = grow(buf, off+int(n))
		*c.cur = buf[:0] // a grown buffer goes back to the pool
		if _, err := io.ReadFull(c.r, buf[off:]); err != nil {
			c.release()
			return nil, err
		}
		if fin {
			return buf, nil
		}
	}
}

// release returns the current message's buffer to the pool.
func (c *Conn) release() {
	if c.cur != nil {
		bufPool.Put(c.cur)
		c.cur = nil
	}
}

func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]byte, n, max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}

// readHeader reads a server frame header; servers never mask.
func (c *Conn) readHeader() (fin bool, op ws.OpCode, n int64, err error) {
	h := c.hdr[:2]
	if _, err = io.ReadFull(c.r, h); err != nil {
		return
	}
	fin, op = h[0]&0x80 != 0, ws.OpCode(h[0]&0x0f)
	masked := h[1]&0x80 != 0
	n = int64(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err = io.ReadFull(c.r, c.hdr[2:4]); err != nil {
			return
		}
		n = int64(binary.BigEndian.Uint16(c.hdr[2:4]))
	case 127:
		if _, err = io.ReadFull(c.r, c.hdr[2:10]); err != nil {
			return
		}
		n = int64(binary.BigEndian.Uint64(c.hdr[2:10]))
	}
	if masked {
		err = errors.New("sioclient: masked server frame")
	}
	return
}

// control handles a ping, pong or close frame of payload length n.
func (c *Conn) control(op ws.OpCode, n int64) error {
	if n > 125 {
		return errors.New("sioclient: control frame too long")
	}
	var p [125]byte
	if _, err := io.ReadFull(c.r, p[:n]); err != nil {
		return err
	}
	switch op {
	case ws.OpPing:
		return c.writeControl(ws.OpPong, p[:n])
	case ws.OpClose:
		c.writeControl(ws.OpClose, p[:min(n, 2)])
		return ErrServerDisconnect
	}
	return nil
}

func (c *Conn) writeControl(op ws.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.flushLocked(); err != nil {
		return err
	}
	f := ws.NewFrame(op, true, append([]byte(nil), payload...))
	return ws.WriteFrame(c.nc, ws.MaskFrameInPlace(f))
}
