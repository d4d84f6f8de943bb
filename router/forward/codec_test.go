package forward

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"courier/router/mailbox"
)

func allKinds() []Envelope {
	room := deliver("u1", 7)
	room.User, room.Stream, room.Room, room.Msg.Room = "", mailbox.RoomStream("lobby"), "lobby", "lobby"
	all := deliver("u1", 9)
	all.User, all.Stream, all.Room, all.Msg.Room = "", mailbox.AllStream, "*", "*"
	traced := deliver("u2", 3)
	traced.Msg.Trace = "5f0c2a9e1b7d4c36" // field 12, sent only when set
	return []Envelope{
		deliver("u1", 1),
		traced,
		room,
		all,
		{Kind: KindJoin, Room: "lobby", Users: []string{"u1", "u2"}},
		{Kind: KindLeave, Room: "lobby", Users: []string{}},
		{Kind: KindDisconnect, User: "u3"},
		{Kind: 99, User: "from the future"}, // receivers ignore it, the codec keeps it
	}
}

func encodeFrame(t testing.TB, envs []Envelope) []byte {
	b := newBatchEncoder()
	n, err := b.encode(envs, len(envs)+1, 1<<30)
	if err != nil || n != len(envs) {
		t.Fatalf("encode: %d of %d, %v", n, len(envs), err)
	}
	return append([]byte(nil), b.payload()...)
}

func TestCodecRoundTrip(t *testing.T) {
	want := allKinds()
	got, err := DecodeFrame(encodeFrame(t, want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestCodecBatchLimits(t *testing.T) {
	envs := make([]Envelope, 100)
	for i := range envs {
		envs[i] = deliver("u", uint64(i))
	}
	b := newBatchEncoder()
	if n, _ := b.encode(envs, 10, 1<<20); n != 10 {
		t.Fatalf("count limit: %d", n)
	}
	one := len(encodeFrame(t, envs[:1])) - arrayHeaderLen
	if n, _ := b.encode(envs, 100, 3*one); n != 3 {
		t.Fatalf("byte limit: %d, want 3", n)
	}
	if n, _ := b.encode(envs, 100, 1); n != 1 {
		t.Fatalf("a frame always carries one envelope: %d", n)
	}
}

// A newer sender may append fields; an older one may send fewer.
func TestCodecFieldEvolution(t *testing.T) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	_ = enc.EncodeArrayLen(2)
	// 14 fields: the 12 known plus two scalars from the future.
	_ = enc.EncodeArrayLen(14)
	for _, v := range []any{1, "u:x", "x", "", nil, "id", 5, "ev", []byte("{}"), 10, 20, "", "new", 3.5} {
		_ = enc.Encode(v)
	}
	// 2 fields: kind and stream only.
	_ = enc.EncodeArrayLen(2)
	_ = enc.EncodeUint(4)
	_ = enc.EncodeString("s")
	got, err := DecodeFrame(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Msg.Seq != 5 || got[0].Msg.Expires != 20 || got[0].User != "x" || string(got[0].Msg.Data) != "{}" {
		t.Fatalf("newer sender: %+v", got[0])
	}
	if got[1].Kind != KindDisconnect || got[1].Stream != "s" || got[1].User != "" {
		t.Fatalf("older sender: %+v", got[1])
	}
}

func TestCodecMalformed(t *testing.T) {
	good := encodeFrame(t, allKinds())
	// Field 12, unknown, is an array: refused, not skipped (see skipScalar).
	nested := []byte{0x91, 0x9d, 0x01, 0xa0, 0xa0, 0xa0, 0xc0, 0xa0, 0x00, 0xa0, 0xc0, 0x00, 0x00, 0xa0, 0x91, 0x00}
	for name, p := range map[string][]byte{
		"empty":      {},
		"nil batch":  {0xc0},
		"not array":  {0xa1, 'x'},
		"truncated":  good[:len(good)-3],
		"trailing":   append(append([]byte(nil), good...), 0x00),
		"huge count": {0xdd, 0xff, 0xff, 0xff, 0xff},
		"kind 300":   {0x91, 0x91, 0xcd, 0x01, 0x2c},
		"no kind":    {0x91, 0x90},
		"nested":     nested,
	} {
		_, err := DecodeFrame(p)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add(encodeFrame(f, allKinds()))
	f.Add(encodeFrame(f, []Envelope{deliver("u", 1)}))
	f.Add([]byte{0x90})
	f.Add([]byte{0xdd, 0, 0, 0, 1, 0x91, 0x01})
	f.Fuzz(func(t *testing.T, p []byte) {
		envs, err := DecodeFrame(p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		// What decodes must survive a round trip unchanged.
		again, err := DecodeFrame(encodeFrame(t, envs))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !sameEnvelopes(envs, again) {
			t.Fatalf("round trip changed\n%+v\n%+v", envs, again)
		}
	})
}

// sameEnvelopes is DeepEqual, except that nil and empty Data are the same
// (msgpack has one empty bin).
func sameEnvelopes(a, b []Envelope) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !bytes.Equal(x.Msg.Data, y.Msg.Data) {
			return false
		}
		x.Msg.Data, y.Msg.Data = nil, nil
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func BenchmarkEncodeDeliver(b *testing.B) {
	envs := []Envelope{deliver("user-1234", 42)}
	enc := newBatchEncoder()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enc.encode(envs, 1, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(enc.payload())))
}

func BenchmarkDecodeDeliver(b *testing.B) {
	p := encodeFrame(b, []Envelope{deliver("user-1234", 42)})
	dec := newFrameDecoder()
	dst := make([]Envelope, 0, 1)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = dec.decode(p, dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// A length field cannot make the decoder allocate more than the frame holds.
func TestCodecForgedLengthAllocatesLittle(t *testing.T) {
	p := []byte{0x91, 0x99, 0x01, 0xa0, 0xa0, 0xa0, 0xc0, 0xa0, 0x00, 0xa0, 0xc6, 0xff, 0xff, 0xff, 0xf0}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := DecodeFrame(p); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Fatalf("decoding a 15-byte frame allocated %d bytes", d)
	}
}
