package mailbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Inspect implements Inspector.
func (m *Memory) Inspect(_ context.Context, name Stream, limit int) (StreamView, error) {
	if limit <= 0 {
		limit = inspectLimit
	}
	now := m.nowMs()
	sh := m.shard(string(name))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.streams[name]
	if s == nil || s.forgotten(now, m.deviceTTL) {
		return StreamView{}, nil
	}
	var v StreamView
	v.Last = s.last
	live := func(m *Message) bool { return m.Expires > now }
	for i := s.msgs.n - 1; i >= 0; i-- {
		msg := s.msgs.at(i)
		if !live(msg) {
			continue
		}
		v.Held++
		if len(v.Recent) < limit {
			v.Recent = append(v.Recent, *msg)
		}
	}
	for _, dev := range s.devices.Keys() {
		d, _ := s.devices.Get(dev)
		if now-d.seen >= m.deviceTTL {
			continue
		}
		v.Devices = append(v.Devices, inspectDevice(s, dev, &d, now, limit))
	}
	slices.SortFunc(v.Devices, func(a, b DeviceView) int { return strings.Compare(a.Device, b.Device) })
	return v, nil
}

// inspectDevice is d's cursor and pending messages, read the way the Redis
// script reads them: the cursor passes acknowledged and expired messages
// up to the first one pending (or the newest seq when none is).
func inspectDevice(s *stream, name string, d *device, now int64, limit int) DeviceView {
	dv := DeviceView{Device: name, Cursor: d.low}
	for i := s.msgs.search(d.low + 1); i < s.msgs.n; i++ {
		msg := s.msgs.at(i)
		if d.hasAcked(msg.Seq) || msg.Expires <= now {
			if len(dv.Pending) == 0 {
				dv.Cursor = msg.Seq
			}
			continue
		}
		dv.Pending = append(dv.Pending, *msg)
		if len(dv.Pending) == limit {
			return dv
		}
	}
	if len(dv.Pending) == 0 {
		dv.Cursor = max(dv.Cursor, s.last)
	}
	return dv
}

// Inspect implements Inspector: one EVALSHA that writes nothing.
func (r *Redis) Inspect(ctx context.Context, s Stream, limit int) (StreamView, error) {
	if limit <= 0 {
		limit = inspectLimit
	}
	res, err := r.inspect.Run(ctx, r.client, r.keys(s), r.nowMs(), r.deviceTTL, limit).Slice()
	if err != nil {
		return StreamView{}, unavailable(err)
	}
	v, err := decodeInspection(res)
	if err != nil {
		return StreamView{}, unavailable(err)
	}
	slices.SortFunc(v.Devices, func(a, b DeviceView) int { return strings.Compare(a.Device, b.Device) })
	return v, nil
}

func decodeInspection(res []any) (StreamView, error) {
	var v StreamView
	if len(res) != 4 {
		return v, fmt.Errorf("inspect script returned %d values", len(res))
	}
	last, ok1 := res[0].(int64)
	held, ok2 := res[1].(int64)
	recent, ok3 := res[2].([]any)
	devices, ok4 := res[3].([]any)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return v, fmt.Errorf("inspect script returned %T %T %T %T", res[0], res[1], res[2], res[3])
	}
	v.Last, v.Held = uint64(last), int(held)
	var err error
	if v.Recent, err = decodeSeqMessages(recent); err != nil {
		return v, err
	}
	for i := 0; i+2 < len(devices); i += 3 {
		name, ok1 := devices[i].(string)
		cursor, ok2 := devices[i+1].(int64)
		pending, ok3 := devices[i+2].([]any)
		if !ok1 || !ok2 || !ok3 {
			return v, fmt.Errorf("inspect script returned device %T %T %T", devices[i], devices[i+1], devices[i+2])
		}
		dv := DeviceView{Device: name, Cursor: uint64(cursor)}
		if dv.Pending, err = decodeSeqMessages(pending); err != nil {
			return v, err
		}
		v.Devices = append(v.Devices, dv)
	}
	return v, nil
}

// decodeSeqMessages reads {seq, encoded message, ...}.
func decodeSeqMessages(res []any) ([]Message, error) {
	var out []Message
	for i := 0; i+1 < len(res); i += 2 {
		seq, ok1 := res[i].(int64)
		raw, ok2 := res[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("script returned %T, %T for a message", res[i], res[i+1])
		}
		m, err := decodeMessage(raw)
		if err != nil {
			return nil, err
		}
		m.Seq = uint64(seq)
		out = append(out, m)
	}
	return out, nil
}
