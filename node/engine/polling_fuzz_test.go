package engine

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/zishang520/engine.io-go-parser/packet"
	"github.com/zishang520/engine.io-go-parser/parser"
	"github.com/zishang520/engine.io-go-parser/types"
)

// FuzzPollingPayload checks the long-polling POST validation in front of
// zishang520 (validatePayload, hasClosePacket) against the library's own
// decoder, which drops its errors: every body we let through must decode
// there without error into exactly one packet per 0x1e-separated part, each
// of the type its first byte names, base64 messages with the bytes they
// encode; and a body has a CLOSE packet exactly when the library finds one.
func FuzzPollingPayload(f *testing.F) {
	for _, s := range []string{
		"4hello", "40", `42["chat","hi"]` + "\x1e" + `42["chat","again"]`, "3", "2probe", "1",
		"4a\x1e1", "6", "5", "0", "7", "", "\x1e", "4a\x1e", "\x1e4a", "4a\x1e\x1e4b",
		"bAQID", "b", "bAQI=", "bAQ", "b!!!!", "bAQ==AQ==", "bAQ\nID", "4€\x1e4\xff",
		"4" + strings.Repeat("x", maxPollingPacket-1), "4" + strings.Repeat("x", maxPollingPacket),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := validatePayload(body)
		if err != nil {
			if err != errBadPayload {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		parts := bytes.Split(body, []byte{0x1e})
		pkts, err := parser.Parserv4().DecodePayload(types.NewStringBuffer(body))
		if err != nil {
			t.Fatalf("validated %q, the library: %v", body, err)
		}
		if len(pkts) != len(parts) {
			t.Fatalf("validated %q: %d parts, the library decodes %d packets", body, len(parts), len(pkts))
		}
		closing := false
		for i, p := range parts {
			got := pkts[i]
			if p[0] == 'b' {
				want, _ := base64.StdEncoding.DecodeString(string(p[1:]))
				if got.Type != packet.MESSAGE || !bytes.Equal(packetBytes(t, got), want) {
					t.Fatalf("part %q: library packet %v %q", p, got.Type, got.Data)
				}
				continue
			}
			if got.Type != parser.PACKET_TYPES_REVERSE[p[0]] || !bytes.Equal(packetBytes(t, got), p[1:]) {
				t.Fatalf("part %q: library packet %v %q", p, got.Type, got.Data)
			}
			closing = closing || got.Type == packet.CLOSE
		}
		if hasClosePacket(body) != closing {
			t.Fatalf("%q: hasClosePacket %v, library %v", body, !closing, closing)
		}
	})
}

func packetBytes(t *testing.T, p *packet.Packet) []byte {
	b, ok := p.Data.(types.BufferInterface)
	if !ok {
		t.Fatalf("library packet data %T", p.Data)
	}
	return b.Bytes()
}
