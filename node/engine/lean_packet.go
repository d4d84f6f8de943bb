package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// socket.io v5 packets for the lean engine, in the text format of
// socket.io-parser: <type>[<attachments>-][<nsp>,][<id>][<json>].

const (
	pkConnect      = 0
	pkDisconnect   = 1
	pkEvent        = 2
	pkAck          = 3
	pkConnectError = 4
	pkBinaryEvent  = 5
	pkBinaryAck    = 6
)

var errBadPacket = errors.New("engine: malformed socket.io packet")

// maxAttachments bounds the binary attachments a client packet may announce,
// as socket.io-parser 4.2.6 does by default (CVE-2026-33151): each one is
// held, up to MaxPayload, until the last arrives.
const maxAttachments = 10

// sioPacket is a decoded client packet. Its values are copies: nothing
// points into the read buffer.
type sioPacket struct {
	typ         byte
	nsp         string
	id          int64 // -1: none
	attachments int
	auth        map[string]any // CONNECT
	data        []any          // EVENT, ACK
}

// decodePacket parses one socket.io packet (the Engine.IO message without
// its '4'), validating the payload as socket.io-parser does.
func decodePacket(s []byte) (*sioPacket, error) {
	if len(s) == 0 || s[0] < '0' || s[0] > '6' {
		return nil, errBadPacket
	}
	p := &sioPacket{typ: s[0] - '0', nsp: "/", id: -1}
	i := 1
	if p.typ == pkBinaryEvent || p.typ == pkBinaryAck {
		j := bytes.IndexByte(s[i:], '-')
		if j <= 0 {
			return nil, errBadPacket
		}
		n, err := strconv.Atoi(string(s[i : i+j]))
		if err != nil || n < 0 || n > maxAttachments {
			return nil, errBadPacket
		}
		p.attachments, i = n, i+j+1
	}
	if i < len(s) && s[i] == '/' {
		j := bytes.IndexByte(s[i:], ',')
		if j < 0 {
			p.nsp, i = string(s[i:]), len(s)
		} else {
			p.nsp, i = string(s[i:i+j]), i+j+1
		}
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j > i {
		id, err := strconv.ParseInt(string(s[i:j]), 10, 64)
		if err != nil {
			return nil, errBadPacket
		}
		p.id, i = id, j
	}
	body := s[i:]
	switch p.typ {
	case pkConnect:
		if len(body) > 0 {
			if err := json.Unmarshal(body, &p.auth); err != nil || p.auth == nil {
				return nil, errBadPacket
			}
		}
	case pkDisconnect:
		if len(body) > 0 {
			return nil, errBadPacket
		}
	case pkEvent, pkBinaryEvent:
		if err := json.Unmarshal(body, &p.data); err != nil || len(p.data) == 0 {
			return nil, errBadPacket
		}
		switch ev := p.data[0].(type) {
		case string:
			if isReservedEvent(ev) {
				return nil, errBadPacket
			}
		case float64:
		default:
			return nil, errBadPacket
		}
	case pkAck, pkBinaryAck:
		if p.id >= 0 && string(body) == "[]" {
			p.data = []any{} // the usual ack, of every pushed message: no JSON decoder
			break
		}
		if p.id < 0 || json.Unmarshal(body, &p.data) != nil || p.data == nil {
			return nil, errBadPacket
		}
	case pkConnectError:
		// only servers send it; a client's is ignored
	}
	return p, nil
}

// plainAck recognises the packet nearly every client sends for every
// message, an empty acknowledgement on the main namespace ("3<id>[]"), and
// returns its id: it is then handled without building a packet.
func plainAck(s []byte) (int64, bool) {
	if len(s) < 4 || s[0] != '0'+pkAck || s[len(s)-2] != '[' || s[len(s)-1] != ']' {
		return 0, false
	}
	digits := s[1 : len(s)-2]
	if len(digits) > 18 {
		return 0, false // leave the rare huge id to the full parser
	}
	var id int64
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false
		}
		id = id*10 + int64(d-'0')
	}
	return id, true
}

// isReservedEvent: names socket.io keeps for itself (socket.io-parser).
func isReservedEvent(ev string) bool {
	switch ev {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}

// placeholder is how socket.io marks a binary attachment inside JSON.
type placeholder struct {
	Placeholder bool `json:"_placeholder"`
	Num         int  `json:"num"`
}

// reconstruct puts the attachments back where their placeholders are.
func reconstruct(v any, atts [][]byte) (any, error) {
	switch t := v.(type) {
	case []any:
		for i, e := range t {
			r, err := reconstruct(e, atts)
			if err != nil {
				return nil, err
			}
			t[i] = r
		}
	case map[string]any:
		if ph, _ := t["_placeholder"].(bool); ph {
			n, ok := t["num"].(float64)
			if !ok || n < 0 || int(n) >= len(atts) || float64(int(n)) != n {
				return nil, errBadPacket
			}
			return atts[int(n)], nil
		}
		for k, e := range t {
			r, err := reconstruct(e, atts)
			if err != nil {
				return nil, err
			}
			t[k] = r
		}
	}
	return v, nil
}

func hasBinary(v any) bool {
	switch t := v.(type) {
	case []byte:
		return true
	case []any:
		for _, e := range t {
			if hasBinary(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range t {
			if hasBinary(e) {
				return true
			}
		}
	}
	return false
}

// deconstruct replaces []byte values with placeholders (copying the
// containers it changes) and collects the attachments in order.
func deconstruct(v any, atts *[][]byte) any {
	switch t := v.(type) {
	case []byte:
		*atts = append(*atts, t)
		return placeholder{Placeholder: true, Num: len(*atts) - 1}
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deconstruct(e, atts)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deconstruct(e, atts)
		}
		return out
	}
	return v
}

// appendHead appends the Engine.IO message type and the socket.io head of a
// packet: 4<type>[<n>-][<nsp>,][<id>]. A binary type always carries its
// count, as socket.io-parser writes it (its decoder requires the '-').
func appendHead(b []byte, typ byte, nsp string, attachments int, id int64) []byte {
	b = append(b, '4', '0'+typ)
	if typ == pkBinaryEvent || typ == pkBinaryAck {
		b = strconv.AppendInt(b, int64(attachments), 10)
		b = append(b, '-')
	}
	if nsp != "/" && nsp != "" {
		b = append(b, nsp...)
		b = append(b, ',')
	}
	if id >= 0 {
		b = strconv.AppendInt(b, id, 10)
	}
	return b
}

// encodePacket appends a whole packet (head and JSON payload) to b and
// returns the binary attachments to send after it.
func encodePacket(b []byte, typ byte, nsp string, id int64, payload any) ([]byte, [][]byte, error) {
	var atts [][]byte
	if payload != nil && hasBinary(payload) {
		payload = deconstruct(payload, &atts)
		switch typ {
		case pkEvent:
			typ = pkBinaryEvent
		case pkAck:
			typ = pkBinaryAck
		}
	}
	b = appendHead(b, typ, nsp, len(atts), id)
	if payload != nil {
		j, err := json.Marshal(payload)
		if err != nil {
			return b, nil, err
		}
		b = append(b, j...)
	}
	return b, atts, nil
}
