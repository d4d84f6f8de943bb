package main

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"courier/loadtest/stats"
)

// cmdRecord is one command of a phase; its index is its sequence number,
// which is also its socket.io ack id and the "seq" of its data, so an answer
// is matched without a lookup table or a lock.
type cmdRecord struct {
	sent  atomic.Int64 // ns since the phase's base instant (monotonic) just before the write; 0 = not sent
	lat   atomic.Int64 // µs from sent to answer
	state atomic.Int32 // cmdUnsent...
	acks  atomic.Int32 // answers received for this id
}

const (
	cmdUnsent int32 = iota
	cmdSent
	cmdOK
	cmdFailed  // answered with an error object, or the call failed
	cmdNotSent // no connected client, or the write failed
)

// cmdRecorder collects one phase (direct or through the node).
type cmdRecorder struct {
	base    time.Time // the phase's start: every time is an offset from it
	recs    []cmdRecord
	warmupN int           // records before this index are the warm-up: not counted
	timeout time.Duration // an answer later than this is a timeout, whatever it says

	sentN      atomic.Int64 // commands on the wire
	answered   atomic.Int64 // commands with an answer
	duplicates atomic.Int64 // a second answer to the same id
	mismatched atomic.Int64 // answered ok, but the echoed seq is not the id's
	unexpected atomic.Int64 // answers we cannot match or read

	mu     sync.Mutex
	errors map[string]int64 // by error code (node: the ack's error.code; direct: the Pool's error)
}

func newCmdRecorder(n, warmupN int, timeout time.Duration) *cmdRecorder {
	return &cmdRecorder{recs: make([]cmdRecord, n), warmupN: warmupN, timeout: timeout, errors: map[string]int64{}}
}

// now is the monotonic offset from the phase's base.
func (r *cmdRecorder) now() int64 { return int64(time.Since(r.base)) }

// markSent is called just before command seq goes on the wire.
func (r *cmdRecorder) markSent(seq int) {
	rec := &r.recs[seq]
	rec.sent.Store(max(r.now(), 1))
	rec.state.Store(cmdSent)
	r.sentN.Add(1)
}

// notSent records that seq never reached the wire (also after markSent,
// when the write failed).
func (r *cmdRecorder) notSent(seq int, why string) {
	if r.recs[seq].state.Swap(cmdNotSent) == cmdSent {
		r.sentN.Add(-1)
	}
	if seq >= r.warmupN {
		r.countError("not_sent: " + why)
	}
}

func (r *cmdRecorder) countError(code string) {
	r.mu.Lock()
	r.errors[code]++
	r.mu.Unlock()
}

// done records the answer to seq: ok, or the error code.
func (r *cmdRecorder) done(seq int64, ok bool, code string) {
	t := r.now()
	if seq < 0 || seq >= int64(len(r.recs)) {
		r.unexpected.Add(1)
		return
	}
	rec := &r.recs[seq]
	if rec.acks.Add(1) > 1 {
		r.duplicates.Add(1)
		return
	}
	r.answered.Add(1)
	sent := rec.sent.Load()
	if sent == 0 { // cannot happen: sent is stored before the write
		r.unexpected.Add(1)
		return
	}
	rec.lat.Store((t - sent) / 1000)
	if ok {
		rec.state.Store(cmdOK)
		return
	}
	rec.state.Store(cmdFailed)
	// A late answer is counted once, as a timeout, by summarize.
	if int(seq) >= r.warmupN && time.Duration(t-sent) <= r.timeout {
		r.countError(code)
	}
}

// onAck handles the node's acknowledgement of a cmd event:
// [{"ok":true,"data":<backend body>}] or [{"ok":false,"error":{"code":..}}].
func (r *cmdRecorder) onAck(id int64, args []byte) {
	ok, code, seq, err := parseCmdAck(args)
	switch {
	case err != nil:
		r.unexpected.Add(1)
		return
	case ok && seq != id && id >= 0 && id < int64(len(r.recs)): // an unknown id is counted by done
		r.mismatched.Add(1)
	}
	r.done(id, ok, code)
}

// parseCmdAck reads a cmd acknowledgement. seq is the "seq" the echo
// backend sent back in data (-1 when absent), which must equal the ack id.
// It runs once per command on a reading goroutine; encoding/json costs a
// few µs there, which is small next to what is measured.
func parseCmdAck(args []byte) (ok bool, code string, seq int64, err error) {
	var a []struct {
		OK   bool `json:"ok"`
		Data *struct {
			Seq *int64 `json:"seq"`
		} `json:"data"`
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(args, &a); err != nil || len(a) == 0 {
		return false, "", -1, errMalformedAck
	}
	seq = -1
	if d := a[0].Data; d != nil && d.Seq != nil {
		seq = *d.Seq
	}
	if a[0].OK {
		return true, "", seq, nil
	}
	code = "unknown"
	if a[0].Error != nil && a[0].Error.Code != "" {
		code = a[0].Error.Code
	}
	return false, code, seq, nil
}

var errMalformedAck = errors.New("malformed cmd ack")

// validCmdName is "/pkg.Service/Method" with both parts non-empty.
func validCmdName(name string) bool {
	svc, method, ok := strings.Cut(strings.TrimPrefix(name, "/"), "/")
	return strings.HasPrefix(name, "/") && ok && svc != "" && method != "" && !strings.Contains(method, "/")
}

// appendCmdData appends the data of command seq: {"seq":N,"pad":"xxx"}.
// The padding makes the payload size a knob; seq makes the echo checkable.
func appendCmdData(dst []byte, seq int, pad string) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, `,"pad":"`...)
	dst = append(dst, pad...)
	return append(dst, `"}`...)
}

// cmdPhase is one phase's numbers in result.json.
type cmdPhase struct {
	OK         int64            `json:"ok"`
	Errors     map[string]int64 `json:"errors"` // by code; "timeout" = no answer within --cmd-timeout
	Timeouts   int64            `json:"timeouts"`
	Late       int64            `json:"late"` // answered, but after --cmd-timeout (also in timeouts)
	Sent       int64            `json:"sent"`
	CmdsPerSec float64          `json:"cmds_per_sec"` // ok answers per second of the measured window
	LatencyMs  stats.Summary    `json:"latency_ms"`   // send → answer, monotonic clock, answered ok
	ErrLatMs   stats.Summary    `json:"error_latency_ms"`
	Duplicates int64            `json:"duplicate_answers"`
	Mismatched int64            `json:"mismatched"` // the answer's seq is not the command's
	Unexpected int64            `json:"unexpected"`

	Seconds            float64            `json:"seconds"`         // the measured window's length
	ScheduleLagMs      float64            `json:"schedule_lag_ms"` // worst lag of a sender behind schedule
	LoadtestCPUSeconds float64            `json:"loadtest_cpu_seconds"`
	CPUSeconds         map[string]float64 `json:"cpu_seconds,omitempty"` // watched processes and nodes, over the phase
}

// summarize turns the measured records into a phase, after the last answer
// had its chance: whatever is still unanswered is a timeout.
func (r *cmdRecorder) summarize(window time.Duration) *cmdPhase {
	p := &cmdPhase{Errors: map[string]int64{}}
	var lat, errLat []int64
	limit := r.timeout.Microseconds()
	for i := r.warmupN; i < len(r.recs); i++ {
		rec := &r.recs[i]
		st := rec.state.Load()
		if st == cmdUnsent || st == cmdNotSent {
			continue
		}
		p.Sent++
		l := rec.lat.Load()
		switch {
		case st == cmdSent:
			p.Timeouts++
		case l > limit:
			p.Timeouts++
			p.Late++
		case st == cmdOK:
			p.OK++
			lat = append(lat, l)
		default:
			errLat = append(errLat, l)
		}
	}
	r.mu.Lock()
	for k, v := range r.errors {
		p.Errors[k] = v
	}
	r.mu.Unlock()
	if p.Timeouts > 0 {
		p.Errors["timeout"] += p.Timeouts
	}
	p.LatencyMs, p.ErrLatMs = stats.Summarize(lat), stats.Summarize(errLat)
	p.Duplicates, p.Mismatched, p.Unexpected = r.duplicates.Load(), r.mismatched.Load(), r.unexpected.Load()
	p.Seconds = round3(window.Seconds())
	if s := window.Seconds(); s > 0 {
		p.CmdsPerSec = round3(float64(p.OK) / s)
	}
	return p
}
