// Package sioclient is a small socket.io v5 / Engine.IO v4 client over the
// WebSocket transport only, built on gobwas/ws for load generation: one
// reading goroutine per connection, pooled read buffers, and no allocation
// per received message beyond what the caller's callback does.
package sioclient

import (
	"errors"
	"strconv"
)

// Engine.IO v4 packet types: the first byte of every text frame.
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
	eioNoop    = '6'
)

// socket.io v5 packet types: the first byte after an Engine.IO message byte.
const (
	TypeConnect      = '0'
	TypeDisconnect   = '1'
	TypeEvent        = '2'
	TypeAck          = '3'
	TypeConnectError = '4'
	TypeBinaryEvent  = '5'
	TypeBinaryAck    = '6'
)

// ErrMalformed is returned for a packet that is not valid socket.io v5.
var ErrMalformed = errors.New("sioclient: malformed packet")

// Packet is one decoded socket.io packet. Namespace and Data alias the
// buffer that was parsed: they are valid only as long as that buffer is.
type Packet struct {
	Type        byte
	Attachments int    // binary attachments announced (types 5 and 6)
	Namespace   []byte // empty means "/"
	AckID       int64  // -1 when the packet carries no ack id
	Data        []byte // the JSON payload, possibly empty
}

// ParseSIO decodes a socket.io packet: <type>[<n>-][<nsp>,][<id>][<json>].
// It does not allocate.
func ParseSIO(b []byte) (Packet, error) {
	p := Packet{AckID: -1}
	if len(b) == 0 || b[0] < TypeConnect || b[0] > TypeBinaryAck {
		return p, ErrMalformed
	}
	p.Type = b[0]
	i := 1
	if p.Type == TypeBinaryEvent || p.Type == TypeBinaryAck {
		n, j := digits(b, i)
		if j == i || j >= len(b) || b[j] != '-' {
			return p, ErrMalformed
		}
		p.Attachments = int(n)
		i = j + 1
	}
	if i < len(b) && b[i] == '/' {
		j := i
		for j < len(b) && b[j] != ',' {
			j++
		}
		p.Namespace = b[i:j]
		if j < len(b) { // a namespace with nothing after it has no comma
			j++
		}
		if len(p.Namespace) == 1 { // "/" is the default namespace
			p.Namespace = nil
		}
		i = j
	}
	if n, j := digits(b, i); j > i {
		if j-i > 18 {
			return p, ErrMalformed
		}
		p.AckID = n
		i = j
	}
	p.Data = b[i:]
	switch p.Type {
	case TypeEvent, TypeBinaryEvent:
		if len(p.Data) == 0 || p.Data[0] != '[' {
			return p, ErrMalformed
		}
	case TypeAck, TypeBinaryAck:
		if p.AckID < 0 || len(p.Data) == 0 || p.Data[0] != '[' {
			return p, ErrMalformed
		}
	}
	return p, nil
}

// digits parses the decimal number starting at b[i]; j is the index after it.
func digits(b []byte, i int) (n int64, j int) {
	for j = i; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		n = n*10 + int64(b[j]-'0')
	}
	return n, j
}

// SplitEvent splits an event payload `["name",a1,a2,...]` into the event
// name and the raw, comma-separated arguments `a1,a2,...` (empty when there
// are none). Names with escape sequences are refused: courier's event names
// never need them, and unescaping would allocate.
func SplitEvent(data []byte) (name, args []byte, err error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, nil, ErrMalformed
	}
	i = skipSpace(data, i+1)
	if i >= len(data) || data[i] != '"' {
		return nil, nil, ErrMalformed
	}
	start := i + 1
	j := start
	for j < len(data) && data[j] != '"' {
		if data[j] == '\\' {
			return nil, nil, ErrMalformed
		}
		j++
	}
	if j >= len(data) {
		return nil, nil, ErrMalformed
	}
	name = data[start:j]
	end := len(data) - 1
	for end > j && isSpace(data[end]) {
		end--
	}
	if data[end] != ']' {
		return nil, nil, ErrMalformed
	}
	k := skipSpace(data, j+1)
	switch {
	case k == end:
		return name, nil, nil
	case data[k] == ',':
		return name, data[k+1 : end], nil
	}
	return nil, nil, ErrMalformed
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// AppendAck appends the Engine.IO message of an empty acknowledgement of
// id in the default namespace: 43<id>[].
func AppendAck(dst []byte, id int64) []byte {
	dst = append(dst, eioMessage, TypeAck)
	dst = strconv.AppendInt(dst, id, 10)
	return append(dst, '[', ']')
}

// AppendEvent appends the Engine.IO message of an EVENT in the default
// namespace: 42<id>["name",arg], or 42["name",arg] when id < 0. name is
// written verbatim; arg is one JSON value (nil: no argument).
func AppendEvent(dst []byte, id int64, name string, arg []byte) []byte {
	dst = append(dst, eioMessage, TypeEvent)
	if id >= 0 {
		dst = strconv.AppendInt(dst, id, 10)
	}
	dst = append(dst, '[', '"')
	dst = append(dst, name...)
	dst = append(dst, '"')
	if arg != nil {
		dst = append(dst, ',')
		dst = append(dst, arg...)
	}
	return append(dst, ']')
}

// AppendConnect appends the Engine.IO message of a CONNECT to the default
// namespace with auth as its (JSON object) payload: 40<auth>.
func AppendConnect(dst, auth []byte) []byte {
	dst = append(dst, eioMessage, TypeConnect)
	return append(dst, auth...)
}

// ScanInt finds the first `"key":<integer>` in b and returns the integer.
// It is a cheap, allocation-free field reader for payloads whose shape the
// caller controls (load test data and courier's meta); it is not a JSON
// parser: a key inside a string value would match too.
func ScanInt(b []byte, key string) (int64, bool) {
	for i := 0; i+len(key)+3 <= len(b); i++ {
		if b[i] != '"' || string(b[i+1:i+1+len(key)]) != key || b[i+1+len(key)] != '"' {
			continue
		}
		j := skipSpace(b, i+2+len(key))
		if j >= len(b) || b[j] != ':' {
			continue
		}
		j = skipSpace(b, j+1)
		neg := false
		if j < len(b) && b[j] == '-' {
			neg, j = true, j+1
		}
		n, k := digits(b, j)
		if k == j {
			return 0, false
		}
		if neg {
			n = -n
		}
		return n, true
	}
	return 0, false
}
