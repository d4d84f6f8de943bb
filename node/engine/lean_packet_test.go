package engine

import (
	"testing"
)

// The usual ack ("3<id>[]") takes a path without the JSON decoder; it must
// decode exactly as the general one does, and what it skips still fails.
func TestDecodeAckFastPathAgreesWithJSON(t *testing.T) {
	for _, tc := range []struct {
		in    string
		id    int64
		nargs int
		bad   bool
	}{
		{in: "312[]", id: 12, nargs: 0},
		{in: "3/custom,7[]", id: 7, nargs: 0},
		{in: "35[1,\"a\"]", id: 5, nargs: 2},
		{in: "3[]", bad: true},         // an ack without an id
		{in: "38[", bad: true},         // malformed
		{in: "38", bad: true},          // no payload
		{in: "38 []", id: 8, nargs: 0}, // JSON takes leading space too
		{in: "38[] ", nargs: 0, id: 8}, // trailing space: JSON decodes it
	} {
		p, err := decodePacket([]byte(tc.in))
		if tc.bad {
			if err == nil {
				t.Errorf("%q decoded, want an error", tc.in)
			}
			continue
		}
		if err != nil || p.typ != pkAck || p.id != tc.id || len(p.data) != tc.nargs || p.data == nil {
			t.Errorf("%q: %+v, %v; want ack id %d with %d args", tc.in, p, err, tc.id, tc.nargs)
		}
	}
}

func TestPlainAckIsTheFullParsersAck(t *testing.T) {
	for _, in := range []string{"31[]", "3123456789[]", "30[]"} {
		id, ok := plainAck([]byte(in))
		p, err := decodePacket([]byte(in))
		if !ok || err != nil || p.typ != pkAck || p.id != id || len(p.data) != 0 || p.nsp != "/" {
			t.Errorf("%q: plainAck %d %v; decodePacket %+v %v", in, id, ok, p, err)
		}
	}
	// Everything else goes to the full parser: other namespaces, arguments,
	// no id, binary acks, junk.
	for _, in := range []string{"3[]", "3/chat,1[]", "31[1]", "31[ ]", "61-1[]", "21[]", "3a[]", "31[", "3", "", "31234567890123456789[]"} {
		if id, ok := plainAck([]byte(in)); ok {
			t.Errorf("%q taken as a plain ack of %d", in, id)
		}
	}
}
