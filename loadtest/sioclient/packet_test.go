package sioclient

import (
	"bytes"
	"testing"
)

func TestParseSIO(t *testing.T) {
	cases := []struct {
		in          string
		typ         byte
		nsp         string
		ack         int64
		attachments int
		data        string
	}{
		{`0{"sid":"abc"}`, TypeConnect, "", -1, 0, `{"sid":"abc"}`},
		{`0`, TypeConnect, "", -1, 0, ``},
		{`1`, TypeDisconnect, "", -1, 0, ``},
		{`2["hello",1]`, TypeEvent, "", -1, 0, `["hello",1]`},
		{`212["hello",{"k":1}]`, TypeEvent, "", 12, 0, `["hello",{"k":1}]`},
		{`2/admin,7["x"]`, TypeEvent, "/admin", 7, 0, `["x"]`},
		{`2/,7["x"]`, TypeEvent, "", 7, 0, `["x"]`},
		{`0/custom,`, TypeConnect, "/custom", -1, 0, ``},
		{`0/custom`, TypeConnect, "/custom", -1, 0, ``},
		{`3456[]`, TypeAck, "", 456, 0, `[]`},
		{`4{"message":"x","data":{"code":401}}`, TypeConnectError, "", -1, 0, `{"message":"x","data":{"code":401}}`},
		{`51-["b",{"_placeholder":true,"num":0}]`, TypeBinaryEvent, "", -1, 1, `["b",{"_placeholder":true,"num":0}]`},
		{`62-/x,9[1]`, TypeBinaryAck, "/x", 9, 2, `[1]`},
	}
	for _, c := range cases {
		p, err := ParseSIO([]byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if p.Type != c.typ || string(p.Namespace) != c.nsp || p.AckID != c.ack || p.Attachments != c.attachments || string(p.Data) != c.data {
			t.Errorf("%s: got type %c nsp %q ack %d att %d data %q", c.in, p.Type, p.Namespace, p.AckID, p.Attachments, p.Data)
		}
	}
}

func TestParseSIOMalformed(t *testing.T) {
	for _, in := range []string{``, `9`, `x`, `2`, `2{"a":1}`, `3[]`, `3`, `5["x"]`, `51["x"]`, `21234567890123456789["x"]`} {
		if _, err := ParseSIO([]byte(in)); err == nil {
			t.Errorf("%q: accepted", in)
		}
	}
}

func TestSplitEvent(t *testing.T) {
	cases := []struct{ in, name, args string }{
		{`["lt",{"k":1},{"id":"a","seq":1,"ts":5}]`, "lt", `{"k":1},{"id":"a","seq":1,"ts":5}`},
		{`["only"]`, "only", ``},
		{` [ "sp" , 1 ] `, "sp", ` 1 `},
	}
	for _, c := range cases {
		name, args, err := SplitEvent([]byte(c.in))
		if err != nil || string(name) != c.name || string(args) != c.args {
			t.Errorf("%s: got %q %q %v", c.in, name, args, err)
		}
	}
	for _, in := range []string{`[]`, `[1]`, `["a\"b"]`, `["a"`, `["a" 1]`, `{"a":1}`} {
		if _, _, err := SplitEvent([]byte(in)); err == nil {
			t.Errorf("%q: accepted", in)
		}
	}
}

func TestAppend(t *testing.T) {
	if got := AppendAck(nil, 42); string(got) != `4342[]` {
		t.Errorf("ack: %s", got)
	}
	if got := AppendConnect(nil, []byte(`{"token":"t"}`)); string(got) != `40{"token":"t"}` {
		t.Errorf("connect: %s", got)
	}
}

func TestScanInt(t *testing.T) {
	b := []byte(`{"k":123},{"id":"x","seq": 7,"ts":1700000000123,"neg":-4}`)
	for key, want := range map[string]int64{"k": 123, "seq": 7, "ts": 1700000000123, "neg": -4} {
		if got, ok := ScanInt(b, key); !ok || got != want {
			t.Errorf("%s: got %d %v", key, got, ok)
		}
	}
	for _, key := range []string{"id", "missing", "s"} {
		if _, ok := ScanInt(b, key); ok {
			t.Errorf("%s: found", key)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	msg := []byte(`2123["lt",{"k":99},{"id":"abc","seq":3,"ts":1700000000000}]`)
	dst := make([]byte, 0, 32)
	allocs := testing.AllocsPerRun(100, func() {
		p, _ := ParseSIO(msg)
		_, args, _ := SplitEvent(p.Data)
		ScanInt(args, "k")
		ScanInt(args, "ts")
		dst = AppendAck(dst[:0], p.AckID)
	})
	if allocs != 0 || !bytes.Equal(dst, []byte(`43123[]`)) {
		t.Errorf("allocs %v, ack %s", allocs, dst)
	}
}

func TestAppendEvent(t *testing.T) {
	got := AppendEvent(nil, 7, "cmd", []byte(`{"name":"/a.B/C","data":{"seq":7}}`))
	if string(got) != `427["cmd",{"name":"/a.B/C","data":{"seq":7}}]` {
		t.Errorf("event: %s", got)
	}
	if got := AppendEvent(nil, -1, "x", nil); string(got) != `42["x"]` {
		t.Errorf("no id: %s", got)
	}
	// What we send, the parser reads back: type, id and the event's argument.
	p, err := ParseSIO(got[1:])
	if err != nil || p.Type != TypeEvent || p.AckID != 7 {
		t.Errorf("reparse: %+v %v", p, err)
	}
	p, err = ParseSIO([]byte(`312[{"ok":true,"data":{"seq":12}}]`))
	if err != nil || p.Type != TypeAck || p.AckID != 12 || string(p.Data) != `[{"ok":true,"data":{"seq":12}}]` {
		t.Errorf("ack: %+v %v", p, err)
	}
}
