package engine

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodePacket runs the lean engine's socket.io decoder on arbitrary
// packets (what follows the Engine.IO '4' of a text frame). A packet it
// accepts must encode again (appendHead and JSON, as the server writes
// packets) into one that decodes to the same values; a packet announcing
// binary attachments must reconstruct from that many attachments into data
// without placeholders, and that data must survive encodePacket's
// deconstruction and a second reconstruction unchanged.
func FuzzDecodePacket(f *testing.F) {
	for _, s := range []string{
		"0", `0{"token":"abc"}`, "0/custom,", `0/custom,{"token":1}`, "0null", "0[]",
		"1", "1/custom,", "1x",
		`2["chat",{"text":"hi"}]`, `2/custom,["chat"]`, `212["ask",1,2]`, `2/custom,7["ask"]`,
		`2[1,"numeric name"]`, `2["connect"]`, `2[]`, `2{}`, `2["a"`, `2999999999999999999999["x"]`,
		"312[]", "3/custom,7[]", `35[1,"a"]`, "3[]", "38[", "38", "38 []",
		`4{"message":"x"}`,
		`51-["upload",{"_placeholder":true,"num":0}]`,
		`52-/custom,9["two",{"_placeholder":true,"num":1},[{"_placeholder":true,"num":0}]]`,
		`50-["none"]`, `5-["x"]`, `51["x"]`, `510-["x"]`, `511-["x"]`,
		`61-4[{"_placeholder":true,"num":0}]`, `61-4[{"_placeholder":true,"num":1}]`,
		`51-["x",{"_placeholder":true,"num":0.5}]`, `51-["x",{"_placeholder":"yes","num":0}]`,
		"7", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		p, err := decodePacket(s)
		if err != nil {
			if p != nil {
				t.Fatalf("error %v with a packet", err)
			}
			return
		}
		if p.typ > pkBinaryAck || p.nsp == "" || p.nsp[0] != '/' || p.id < -1 || p.attachments < 0 || p.attachments > maxAttachments {
			t.Fatalf("decoded %+v", p)
		}
		if p.typ == pkConnectError {
			return // a client's is ignored: its body is not read
		}
		again := reencode(t, p)
		q, err := decodePacket(again[1:])
		if err != nil {
			t.Fatalf("%q decoded, re-encoded %q: %v", s, again, err)
		}
		if !samePacket(p, q) {
			t.Fatalf("%q decoded to %+v, re-encoded %q to %+v", s, p, again, q)
		}
		if p.attachments > 0 {
			checkAttachments(t, p)
		}
	})
}

// reencode writes p as the server writes packets: '4', the head, the JSON.
func reencode(t *testing.T, p *sioPacket) []byte {
	b := appendHead(nil, p.typ, p.nsp, p.attachments, p.id)
	var payload any
	switch {
	case p.typ == pkConnect && p.auth != nil:
		payload = p.auth
	case p.data != nil:
		payload = p.data
	}
	if payload != nil {
		j, err := json.Marshal(payload)
		if err != nil {
			t.Fatalf("marshal %+v: %v", p, err)
		}
		b = append(b, j...)
	}
	return b
}

func samePacket(p, q *sioPacket) bool {
	return p.typ == q.typ && p.nsp == q.nsp && p.id == q.id && p.attachments == q.attachments &&
		reflect.DeepEqual(p.auth, q.auth) && reflect.DeepEqual(p.data, q.data)
}

// checkAttachments reconstructs p's data as leanSession does once all its
// attachments arrived, then sends it back through encodePacket.
func checkAttachments(t *testing.T, p *sioPacket) {
	atts := make([][]byte, p.attachments)
	for i := range atts {
		atts[i] = []byte{byte(i), byte(i >> 8), 0xff}
	}
	data := make([]any, len(p.data))
	for i, v := range p.data {
		r, err := reconstruct(v, atts)
		if err != nil {
			return // the session closes with "parse error"
		}
		data[i] = r
	}
	if hasPlaceholder(data) {
		t.Fatalf("placeholder left in %v", data)
	}
	typ := byte(pkEvent)
	if p.typ == pkBinaryAck {
		typ = pkAck
	}
	b, sent, err := encodePacket(nil, typ, p.nsp, p.id, data)
	if err != nil {
		t.Fatalf("encode %v: %v", data, err)
	}
	q, err := decodePacket(b[1:])
	if err != nil {
		t.Fatalf("encoded %q: %v", b, err)
	}
	if (len(sent) > 0) != hasBinary(data) || q.attachments != len(sent) {
		t.Fatalf("encoded %q with %d attachments from %v", b, len(sent), data)
	}
	for i, v := range q.data {
		r, err := reconstruct(v, sent)
		if err != nil {
			t.Fatalf("reconstruct %q: %v", b, err)
		}
		q.data[i] = r
	}
	if !reflect.DeepEqual(data, q.data) {
		t.Fatalf("attachments round trip: %v, got %v", data, q.data)
	}
}

func hasPlaceholder(v any) bool {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if hasPlaceholder(e) {
				return true
			}
		}
	case map[string]any:
		if ph, _ := t["_placeholder"].(bool); ph {
			return true
		}
		for _, e := range t {
			if hasPlaceholder(e) {
				return true
			}
		}
	}
	return false
}
