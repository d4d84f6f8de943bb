package mailbox

import (
	"encoding/binary"
	"errors"
)

// A message is stored in Redis as one opaque value (Lua never reads it):
// a version byte, then ID, Event, Room and Data each as uvarint length +
// bytes, then TS and Expires as varints. Seq is not stored: the key says it.
const codecV1 = 1

var errCodec = errors.New("mailbox: undecodable message in Redis")

func encodeMessage(m Message) []byte {
	b := make([]byte, 0, 1+4*binary.MaxVarintLen32+len(m.ID)+len(m.Event)+len(m.Room)+len(m.Data)+2*binary.MaxVarintLen64)
	b = append(b, codecV1)
	for _, s := range [...]string{m.ID, m.Event, m.Room} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Data)))
	b = append(b, m.Data...)
	b = binary.AppendVarint(b, m.TS)
	b = binary.AppendVarint(b, m.Expires)
	return b
}

// decodeMessage reads what encodeMessage wrote. Strings are cut from s
// without copying; Data gets a copy of its own, as callers own results.
func decodeMessage(s string) (Message, error) {
	var m Message
	if len(s) == 0 || s[0] != codecV1 {
		return m, errCodec
	}
	p := 1
	str := func() (string, bool) {
		n, w := uvarint(s[p:])
		if w <= 0 || uint64(len(s)-p-w) < n {
			return "", false
		}
		p += w
		out := s[p : p+int(n)]
		p += int(n)
		return out, true
	}
	var ok bool
	if m.ID, ok = str(); !ok {
		return m, errCodec
	}
	if m.Event, ok = str(); !ok {
		return m, errCodec
	}
	if m.Room, ok = str(); !ok {
		return m, errCodec
	}
	data, ok := str()
	if !ok {
		return m, errCodec
	}
	if len(data) > 0 {
		m.Data = []byte(data)
	}
	for _, v := range []*int64{&m.TS, &m.Expires} {
		x, w := varint(s[p:])
		if w <= 0 {
			return m, errCodec
		}
		*v, p = x, p+w
	}
	return m, nil
}

// uvarint and varint are binary.Uvarint and binary.Varint over a string,
// so decoding needs no []byte copy of the reply.
func uvarint(s string) (uint64, int) {
	var x uint64
	var sh uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			return x | uint64(c)<<sh, i + 1
		}
		x |= uint64(c&0x7f) << sh
		sh += 7
	}
	return 0, 0
}

func varint(s string) (int64, int) {
	ux, n := uvarint(s)
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x, n
}
