package forward

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The dialer proves it holds the cluster secret in its upgrade request:
//
//	X-Courier-Node:  its node id
//	X-Courier-Time:  unix seconds
//	X-Courier-Nonce: 32 random hex digits
//	X-Courier-Mac:   hex HMAC-SHA256(secret, node \x00 time \x00 nonce)
//
// The server answers 401 to a bad MAC, a time more than MaxSkew away from
// its clock, or a nonce it has already accepted within that window (a
// replayed handshake).
const (
	linkPath    = "/courier/link/v1" // the version is in the path: a new wire format gets a new path
	headerNode  = "X-Courier-Node"
	headerTime  = "X-Courier-Time"
	headerNonce = "X-Courier-Nonce"
	headerMAC   = "X-Courier-Mac"
)

func mac(secret, node, ts, nonce string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(node))
	m.Write([]byte{0})
	m.Write([]byte(ts))
	m.Write([]byte{0})
	m.Write([]byte(nonce))
	return m.Sum(nil)
}

// authHeader is what a dialer sends.
func authHeader(secret, node string, now time.Time) http.Header {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	nonce := hex.EncodeToString(b[:])
	ts := strconv.FormatInt(now.Unix(), 10)
	h := http.Header{}
	h.Set(headerNode, node)
	h.Set(headerTime, ts)
	h.Set(headerNonce, nonce)
	h.Set(headerMAC, hex.EncodeToString(mac(secret, node, ts, nonce)))
	return h
}

// handshake holds the auth headers of one upgrade request.
type handshake struct {
	node, ts, nonce, mac string
}

var (
	errNoNode   = errors.New("no node id")
	errLoopback = errors.New("no cluster secret: only loopback peers are accepted")
	errStale    = errors.New("stale or future timestamp")
	errBadMAC   = errors.New("bad mac")
	errReplay   = errors.New("replayed nonce")
)

// verify checks a handshake from remote. With no secret there is nothing to
// check a MAC against, so only peers on this machine are trusted.
func (a *authenticator) verify(h handshake, remote net.Addr, now time.Time) error {
	if h.node == "" {
		return errNoNode
	}
	if a.secret == "" {
		if !isLoopback(remote) {
			return errLoopback
		}
		return nil
	}
	sec, err := strconv.ParseInt(h.ts, 10, 64)
	if err != nil {
		return errStale
	}
	if d := now.Sub(time.Unix(sec, 0)); d > a.skew || d < -a.skew {
		return errStale
	}
	got, err := hex.DecodeString(h.mac)
	if err != nil || len(h.nonce) < 16 || !hmac.Equal(got, mac(a.secret, h.node, h.ts, h.nonce)) {
		return errBadMAC
	}
	if !a.fresh(h.nonce, now) {
		return errReplay
	}
	return nil
}

func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// authenticator remembers accepted nonces for twice the skew (a timestamp
// may be that far ahead), which is as long as a captured handshake stays
// acceptable. Only handshakes with a valid MAC get this far, so the map
// grows with real peers' dials only.
type authenticator struct {
	secret string
	skew   time.Duration

	mu   sync.Mutex
	seen map[string]time.Time // nonce -> forget after
}

func (a *authenticator) fresh(nonce string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if until, ok := a.seen[nonce]; ok && now.Before(until) {
		return false
	}
	if a.seen == nil {
		a.seen = make(map[string]time.Time)
	}
	if len(a.seen) >= 1024 {
		for n, until := range a.seen {
			if !now.Before(until) {
				delete(a.seen, n)
			}
		}
	}
	a.seen[nonce] = now.Add(2 * a.skew)
	return true
}
