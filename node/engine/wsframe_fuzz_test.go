package engine

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// Fuzz targets for the lean engine's reading of client bytes: the WebSocket
// frame header (parseHeader) and the frame stream with its Engine.IO packet
// types (wconn.consume). The corpus the fuzzer found interesting is kept in
// testdata/fuzz, so plain `go test` replays it.

const fuzzMaxPayload = 4096

// clientFrame is a masked client frame as browsers send it.
func clientFrame(fin bool, op ws.OpCode, payload []byte) []byte {
	h := ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: [4]byte{0x12, 0x34, 0x56, 0x78}, Length: int64(len(payload))}
	var b bytes.Buffer
	_ = ws.WriteHeader(&b, h)
	p := append([]byte(nil), payload...)
	ws.Cipher(p, h.Mask, 0)
	b.Write(p)
	return b.Bytes()
}

func frameSeeds() [][]byte {
	long := bytes.Repeat([]byte("x"), 300)
	nonMinimal := []byte{0x81, 0xfe, 0x00, 0x02, 1, 2, 3, 4, '3' ^ 1, '4' ^ 2} // 2 bytes in a 16-bit length
	return [][]byte{
		clientFrame(true, ws.OpText, []byte("40")),
		clientFrame(true, ws.OpText, []byte(`42["chat",{"text":"hi"}]`)),
		clientFrame(true, ws.OpText, []byte("3")),
		clientFrame(true, ws.OpBinary, []byte{0, 1, 2, 3}),
		clientFrame(true, ws.OpText, append([]byte("4"), long...)), // 16-bit length
		append(clientFrame(false, ws.OpText, []byte("42[\"a\",")), clientFrame(true, ws.OpContinuation, []byte("1]"))...),
		append(clientFrame(false, ws.OpText, []byte("4")), append(clientFrame(true, ws.OpPing, []byte("p")), clientFrame(true, ws.OpContinuation, []byte("2[\"x\"]"))...)...),
		clientFrame(true, ws.OpPing, []byte("hello")),
		clientFrame(true, ws.OpPong, nil),
		clientFrame(true, ws.OpClose, []byte{0x03, 0xe8}),
		clientFrame(true, ws.OpText, []byte("1")),
		clientFrame(true, ws.OpText, []byte("9")),
		clientFrame(true, ws.OpText, nil),
		nonMinimal,
		{0x81, 0x02, 'h', 'i'},                              // unmasked
		{0xc1, 0x80, 0, 0, 0, 0},                            // RSV1
		{0x83, 0x80, 0, 0, 0, 0},                            // reserved opcode
		{0x09, 0x80, 0, 0, 0, 0},                            // fragmented ping
		{0x89, 0xfe, 0x00, 0x7e, 0, 0, 0, 0},                // ping over 125
		{0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4}, // 1 MiB declared
		{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, // length MSB set
		{0x81, 0xfe}, // truncated
	}
}

// validClientHeader is RFC 6455 for frames a server accepts, with the
// engine's payload limit.
func validClientHeader(h ws.Header, maxPayload int64) bool {
	if h.Rsv != 0 || !h.Masked || h.Length < 0 {
		return false
	}
	switch h.OpCode {
	case ws.OpClose, ws.OpPing, ws.OpPong:
		if !h.Fin || h.Length > 125 {
			return false
		}
	case ws.OpContinuation, ws.OpText, ws.OpBinary:
	default:
		return false
	}
	return h.Length <= maxPayload
}

// structurallyValid is validClientHeader without the payload limit.
func structurallyValid(h ws.Header) bool { return validClientHeader(h, math.MaxInt64) }

// FuzzParseHeader checks parseHeader against gobwas/ws's ReadHeader: a
// header is accepted exactly when gobwas reads it whole and it is valid for
// a server (RFC 6455 and the payload limit), with the same fields; "need
// more" only while the header is incomplete; every prefix of input either
// needs more or fails with the same error; an accepted header re-encodes to
// itself.
func FuzzParseHeader(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, hlen, err := parseHeader(data, fuzzMaxPayload)
		r := bytes.NewReader(data)
		gh, gerr := ws.ReadHeader(r)
		consumed := len(data) - r.Len()
		switch {
		case err == nil && hlen > 0:
			if gerr != nil {
				t.Fatalf("accepted %x, gobwas: %v", data[:hlen], gerr)
			}
			if gh != h || consumed != hlen {
				t.Fatalf("header %+v of %d bytes, gobwas %+v of %d", h, hlen, gh, consumed)
			}
			if !validClientHeader(h, fuzzMaxPayload) {
				t.Fatalf("accepted an invalid header %+v", h)
			}
			if hlen != 6 && hlen != 8 && hlen != 14 {
				t.Fatalf("header length %d", hlen)
			}
			var b bytes.Buffer
			if err := ws.WriteHeader(&b, h); err != nil {
				t.Fatal(err)
			}
			h2, hlen2, err := parseHeader(b.Bytes(), fuzzMaxPayload)
			if err != nil || h2 != h || hlen2 != b.Len() || hlen2 > hlen {
				t.Fatalf("re-encoded %x: %+v, %d, %v", b.Bytes(), h2, hlen2, err)
			}
			for k := range hlen {
				if ph, n, err := parseHeader(data[:k], fuzzMaxPayload); n != 0 || err != nil {
					t.Fatalf("prefix of %d: %+v, %d, %v", k, ph, n, err)
				}
			}
		case err == nil:
			// need more: gobwas must run out of input too
			if gerr == nil || len(data) >= 14 {
				t.Fatalf("need more for %x, gobwas read %+v, %v", data, gh, gerr)
			}
		default:
			if hlen != 0 {
				t.Fatalf("error %v with header length %d", err, hlen)
			}
			if !errors.Is(err, errFrameInvalid) && !errors.Is(err, errFrameTooBig) {
				t.Fatalf("unclassified error %v", err)
			}
			// refused on what was read: more bytes change nothing
			padded := append(slices.Clone(data), make([]byte, 14)...)
			if _, _, err2 := parseHeader(padded, fuzzMaxPayload); err2 != err {
				t.Fatalf("%x: %v, padded: %v", data, err, err2)
			}
			ph, perr := ws.ReadHeader(bytes.NewReader(padded))
			switch {
			case errors.Is(perr, ws.ErrHeaderLengthMSB):
				if err != errFrameInvalid {
					t.Fatalf("length MSB set: %v", err)
				}
			case perr != nil:
				t.Fatalf("gobwas on padded %x: %v", padded, perr)
			case validClientHeader(ph, fuzzMaxPayload):
				t.Fatalf("refused a valid header %+v: %v", ph, err)
			case err == errFrameTooBig && (!structurallyValid(ph) || ph.Length <= fuzzMaxPayload):
				t.Fatalf("%+v refused as too big", ph)
			case err == errFrameInvalid && structurallyValid(ph):
				t.Fatalf("%+v refused as invalid", ph)
			}
		}
	})
}

// fuzzConn is a net.Conn that swallows what is written to it.
type fuzzConn struct{}

func (fuzzConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (fuzzConn) Write(b []byte) (int, error)      { return len(b), nil }
func (fuzzConn) Close() error                     { return nil }
func (fuzzConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (fuzzConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (fuzzConn) SetDeadline(time.Time) error      { return nil }
func (fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzUpper records the Engine.IO messages a wconn hands up.
type fuzzUpper struct{ msgs []string }

func (u *fuzzUpper) onMessage(data []byte, binary bool) {
	kind := "t:"
	if binary {
		kind = "b:"
	}
	u.msgs = append(u.msgs, kind+string(data))
}
func (u *fuzzUpper) onTimeout()     {}
func (u *fuzzUpper) onClose(string) {}

type consumed struct {
	msgs   []string
	reason string // "" while open
}

// feed runs chunks through a fresh wconn, one consume per chunk, and checks
// what it keeps between reads.
func feed(t *testing.T, core *leanCore, chunks [][]byte) consumed {
	up := &fuzzUpper{}
	c := newWconn(core, fuzzConn{})
	c.up = up
	for _, b := range chunks {
		c.readMu.Lock()
		c.consume(b)
		in := len(c.in)
		c.readMu.Unlock()
		if c.isClosed() {
			if in != 0 {
				t.Fatalf("closed connection keeps %d bytes", in)
			}
			break
		}
		if in >= 14+fuzzMaxPayload {
			t.Fatalf("keeps %d bytes of an incomplete frame", in)
		}
		if len(c.frag) > fuzzMaxPayload {
			t.Fatalf("fragmented message of %d bytes", len(c.frag))
		}
	}
	c.mu.Lock()
	reason := c.reason
	c.mu.Unlock()
	for _, m := range up.msgs {
		if len(m)-2 > fuzzMaxPayload {
			t.Fatalf("message of %d bytes", len(m)-2)
		}
	}
	c.close(reasonTransportClose, 0) // the fuzzer's end of input
	return consumed{msgs: up.msgs, reason: reason}
}

// FuzzConsume feeds a byte stream to a lean connection as one read and
// again cut into reads at the places cuts says: the messages handed up (in
// order, text and binary, fragments joined, Engine.IO type stripped) and the
// close reason must not depend on how the bytes arrived, and nothing kept
// between reads may exceed one frame under the payload limit.
func FuzzConsume(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add(s, []byte{0})
		f.Add(s, []byte{1, 5, 13})
	}
	var all []byte
	for _, s := range frameSeeds()[:8] {
		all = append(all, s...)
	}
	f.Add(all, []byte{2, 3, 200})
	cfg := Config{MaxPayload: fuzzMaxPayload}.withDefaults()
	core := newLeanCore(cfg, slog.New(slog.DiscardHandler))
	f.Cleanup(core.close)
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		// consume unmasks in place: each run gets its own copy
		whole := feed(t, core, [][]byte{slices.Clone(data)})
		var chunks [][]byte
		rest := slices.Clone(data)
		for i := 0; len(rest) > 0; i++ {
			n := 1
			if len(cuts) > 0 {
				n = int(cuts[i%len(cuts)]) + 1
			}
			n = min(n, len(rest))
			chunks = append(chunks, rest[:n:n])
			rest = rest[n:]
		}
		split := feed(t, core, chunks)
		if whole.reason != split.reason || !slices.Equal(whole.msgs, split.msgs) {
			t.Fatalf("one read: %q %q\nin %d reads: %q %q", whole.msgs, whole.reason, len(chunks), split.msgs, split.reason)
		}
	})
}
