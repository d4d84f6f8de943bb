// Package polls runs polling tasks: each task calls a backend command every
// interval on exactly one node of the cluster (a lease with expiry and a
// fencing token in the Store) and pushes the answer only when it changed.
//
// Pieces: Task (what to poll), Store (tasks, leases, last results; memory.go
// and redis.go, one contract suite in pollstest), Runner (the loop on every
// node), and Routes (POST/GET/DELETE /v1/polls).
package polls

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"

	"courier/node/command"
	"courier/node/errcode"
	"courier/node/push"
)

// Bounds of a task; the push it makes is bound by the push contract
// (node/push) and its command name by the command channel's rule.
const (
	MinInterval = time.Second
	MaxInterval = 24 * time.Hour
	maxTaskName = 128
	// MaxDataBytes bounds a task's request data, like a push's data.
	MaxDataBytes = push.DefaultMaxDataBytes
)

// Task is one polling task. Its JSON form is the body of POST /v1/polls:
// "interval" is read as a number of seconds (fractions allowed) or a Go
// duration string ("30s", "1m30s"), and always written as seconds.
// "ttl" is the push's ttl in seconds (absent: the node's default, 0:
// fire-and-forget). "data" is the command's JSON request ({} when absent).
type Task struct {
	Name     string
	Cmd      string
	Data     json.RawMessage
	Interval time.Duration
	To       push.Target
	Event    string
	TTL      *float64
}

// taskJSON is Task on the wire. Status embeds it too, which is why Task's
// own methods convert instead of being promoted.
type taskJSON struct {
	Name     string          `json:"name"`
	Cmd      string          `json:"cmd"`
	Data     json.RawMessage `json:"data,omitempty"`
	Interval json.RawMessage `json:"interval"`
	To       push.Target     `json:"to"`
	Event    string          `json:"event"`
	TTL      *float64        `json:"ttl,omitempty"`
}

func (t Task) wire() taskJSON {
	secs, _ := json.Marshal(t.Interval.Seconds())
	return taskJSON{Name: t.Name, Cmd: t.Cmd, Data: t.Data, Interval: secs, To: t.To, Event: t.Event, TTL: t.TTL}
}

// MarshalJSON writes the interval in seconds.
func (t Task) MarshalJSON() ([]byte, error) { return json.Marshal(t.wire()) }

// UnmarshalJSON accepts the interval as seconds or a duration string.
func (t *Task) UnmarshalJSON(b []byte) error {
	var w taskJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	d, err := parseInterval(w.Interval)
	if err != nil {
		return err
	}
	*t = Task{Name: w.Name, Cmd: w.Cmd, Data: w.Data, Interval: d, To: w.To, Event: w.Event, TTL: w.TTL}
	return nil
}

func parseInterval(raw json.RawMessage) (time.Duration, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil // Validate says it is missing
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf(`"interval" %q is not a duration like "30s" or "1m": %w`, s, err)
		}
		return d, nil
	}
	var secs float64
	if err := json.Unmarshal(raw, &secs); err != nil {
		return 0, errors.New(`"interval" must be a number of seconds or a duration string like "30s"`)
	}
	if math.IsNaN(secs) || math.IsInf(secs, 0) || secs > MaxInterval.Seconds()*2 || secs < 0 {
		return -1, nil // out of range: Validate gives the message
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// taskName keeps names safe in a URL path and in logs.
var taskName = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

// Validate reports the first thing wrong with t as an *errcode.Error
// (bad_request, or reserved_event for a reserved event name).
func (t *Task) Validate() error {
	bad := func(format string, args ...any) error {
		return errcode.New(errcode.BadRequest, fmt.Sprintf(format, args...))
	}
	switch {
	case t.Name == "" || len(t.Name) > maxTaskName:
		return bad(`"name" must be 1-128 characters`)
	case !taskName.MatchString(t.Name):
		return bad(`"name" %q may hold only letters, digits, '.', '_', ':' and '-'`, t.Name)
	case t.Cmd == "":
		return bad(`"cmd" is required, like "/pkg.Service/Method"`)
	case !validCmd(t.Cmd):
		return bad(`"cmd" %q is not a command name like "/pkg.Service/Method"`, t.Cmd)
	case len(t.Data) > MaxDataBytes:
		return errcode.New(errcode.TooLarge, fmt.Sprintf(`"data" is over the limit of %d bytes`, MaxDataBytes))
	case len(t.Data) > 0 && !json.Valid(t.Data):
		return bad(`"data" is not valid JSON`)
	case t.Interval == 0:
		return bad(`"interval" is required: seconds (e.g. 30) or a duration string (e.g. "30s")`)
	case t.Interval < MinInterval || t.Interval > MaxInterval:
		return bad(`"interval" must be between 1s and 24h`)
	}
	// The push the task makes, as far as it is known before the answer.
	_, err := push.Validate(&push.Request{To: t.To, Event: t.Event, TTL: t.TTL}, push.Limits{})
	return err
}

func validCmd(name string) bool {
	_, _, err := command.ParseName(name)
	return err == nil
}

// leaseTTL and scanPeriod are the timing that gives the takeover bound: the
// holder renews every interval/4, so a lease of 5/4 interval survives three
// missed renewals; a dead holder's lease lapses at most 5/4 interval after
// its last renewal, and another node's scan notices within interval/4 more:
// takeover within 1.5 intervals (plus a store round trip), under the two the
// contract promises.
func leaseTTL(interval time.Duration) time.Duration   { return interval + interval/4 }
func scanPeriod(interval time.Duration) time.Duration { return interval / 4 }

// request is the command body: a task without data sends {} (the empty
// message every JSON backend accepts).
func (t *Task) request() json.RawMessage {
	if len(t.Data) == 0 {
		return json.RawMessage("{}")
	}
	return t.Data
}
