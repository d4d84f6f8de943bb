package mailbox

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// NewID is a message id: 48 bits of milliseconds then 80 random bits,
// unique without coordination, and sorted by time when compared as strings
// (lower-case base32hex keeps the order of the bytes).
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// IDTime is the time (unix ms) a NewID id was made, to the 8 ms its first
// nine characters carry; false for an id of another form.
func IDTime(id string) (int64, bool) {
	if len(id) != 26 {
		return 0, false
	}
	var ms int64
	for i := 0; i < 9; i++ {
		c := id[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'v':
			v = c - 'a' + 10
		default:
			return 0, false
		}
		ms = ms<<5 | int64(v)
	}
	return ms << 3, true // 45 of the 48 bits
}
