package push

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"courier/node/errcode"
)

// An idempotency id is claimed in the store under its scope (the API key)
// with the message id and a fingerprint of the request. A repeat with the
// same fingerprint is a retry of the same push: it answers the first
// message id and delivers nothing new. Another request under a claimed id
// is a mistake of the caller's, answered 409 with the first message id and
// never delivered, so that the message id clients de-duplicate by always
// names one message.

// KeyScope names an API key in idempotency claims without storing the key.
func KeyScope(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// ClaimKey is the store key of r's idempotency id (r.ID != "").
func ClaimKey(r *Request) string {
	return "push:" + r.Scope + ":" + r.ID
}

// Fingerprint identifies what r asks for: the same targets (in any order),
// event, data (compacted) and ttl give the same fingerprint.
func Fingerprint(r *Request) string {
	to := Target{Users: slices.Clone(r.To.Users), Rooms: slices.Clone(r.To.Rooms), All: r.To.All}
	slices.Sort(to.Users)
	slices.Sort(to.Rooms)
	raw := r.Data
	if len(raw) == 0 {
		raw = json.RawMessage("null") // as the hub stores a push without data
	}
	var data bytes.Buffer
	if json.Compact(&data, raw) != nil {
		data.Reset()
		data.Write(raw)
	}
	canonical, _ := json.Marshal(struct {
		To    Target   `json:"to"`
		Event string   `json:"event"`
		Data  string   `json:"data"`
		TTL   *float64 `json:"ttl"`
	}{to, r.Event, data.String(), r.TTL})
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:12])
}

// ClaimValue is what a claim stores: the message id and the fingerprint.
func ClaimValue(msgID, fingerprint string) string { return msgID + "|" + fingerprint }

// ParseClaim splits a stored claim. A claim without a fingerprint (stored
// by an older node) matches any request.
func ParseClaim(v string) (msgID, fingerprint string) {
	msgID, fingerprint, _ = strings.Cut(v, "|")
	return msgID, fingerprint
}

// Conflict answers a push whose idempotency id was claimed for another
// request: 409, with the message id of the first.
type Conflict struct {
	ID string // the first request's message id
}

func (c *Conflict) Error() string {
	return "conflict: idempotency id already used for another request (message " + c.ID + ")"
}

// Err is the error body of the answer.
func (c *Conflict) Err() *errcode.Error {
	return errcode.New(errcode.Conflict, "this id was used within the last 10 minutes for another request; it was not delivered")
}
