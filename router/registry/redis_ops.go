package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Add implements Sessions: the session's own slot first (the truth), then
// its user and node indexes and, when the node changed, its rooms.
func (r *Redis) Add(ctx context.Context, s Session) error {
	v, err := r.run(ctx, r.session, r.sessionKeys(s.ID), "add", s.User, s.Device, s.Node, s.ConnectedAt.UnixMilli())
	if err != nil {
		return err
	}
	res, _ := v.([]any)
	if len(res) < 3 {
		return unavailable(fmt.Errorf("session add returned %v", v))
	}
	isNew := res[0] == int64(1)
	oldUser, _ := res[1].(string)
	oldNode, _ := res[2].(string)
	if isNew {
		oldNode = ""
	}
	_, err = r.pipe(ctx, func(p redis.Pipeliner) {
		p.HSet(ctx, r.userKey(s.User), s.ID, encodeSession(s))
		if !isNew && oldUser != s.User {
			p.HDel(ctx, r.userKey(oldUser), s.ID)
		}
		// Always, even when unchanged: it also repairs an Add whose caller died here.
		evalSha(ctx, p, r.nodes, []string{r.nodesKey(), r.nodeKey(oldNode), r.nodeKey(s.Node)}, "move", s.ID, oldNode, s.Node)
		for _, room := range res[3:] {
			name, _ := room.(string)
			evalSha(ctx, p, r.room, r.roomKeys(name), "move", s.ID, s.Node)
		}
	})
	return err
}

// Remove implements Sessions.
func (r *Redis) Remove(ctx context.Context, id string) error {
	_, err := r.removeMany(ctx, []string{id}, "")
	return err
}

// removeMany removes sessions in three pipelined rounds, each idempotent:
//  1. in each session's slot, mark it dead (joins from now on do nothing)
//     and read its user, node and rooms;
//  2. take it out of those rooms and its user index;
//  3. delete the session and take it out of its node index.
//
// A caller that dies between rounds leaves the session in its node index,
// so the PurgeNode that follows its node's death repeats the whole. With
// node != "" only sessions on that node are removed (PurgeNode), and stale
// entries of that node's index are dropped. It returns how many live
// sessions it removed.
func (r *Redis) removeMany(ctx context.Context, ids []string, node string) (int, error) {
	cmds, err := r.pipe(ctx, func(p redis.Pipeliner) {
		for _, id := range ids {
			evalSha(ctx, p, r.session, r.sessionKeys(id), "remove", node, deadTTL.Milliseconds())
		}
	})
	if err != nil {
		return 0, err
	}
	type found struct {
		id, user, node string
		rooms          []string
		held           bool // the session was there (else a stale index entry)
	}
	var gone []found
	n := 0
	for i, c := range cmds {
		res, _ := c.(*redis.Cmd).Val().([]any)
		if len(res) < 3 {
			if node != "" { // absent or moved: at most a stale index entry
				gone = append(gone, found{id: ids[i], node: node})
			}
			continue
		}
		if res[0] == int64(1) {
			n++
		}
		f := found{id: ids[i], held: true}
		f.user, _ = res[1].(string)
		f.node, _ = res[2].(string)
		for _, room := range res[3:] {
			name, _ := room.(string)
			f.rooms = append(f.rooms, name)
		}
		gone = append(gone, f)
	}
	_, err = r.pipe(ctx, func(p redis.Pipeliner) {
		for _, f := range gone {
			for _, room := range f.rooms {
				evalSha(ctx, p, r.room, r.roomKeys(room), "del", f.id)
			}
			if f.held {
				p.HDel(ctx, r.userKey(f.user), f.id)
			}
		}
	})
	if err != nil {
		return 0, err
	}
	_, err = r.pipe(ctx, func(p redis.Pipeliner) {
		for _, f := range gone {
			evalSha(ctx, p, r.session, r.sessionKeys(f.id), "gone")
			evalSha(ctx, p, r.nodes, []string{r.nodesKey(), r.nodeKey(f.node), r.nodeKey(f.node)}, "del", f.id, f.node)
		}
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// UserSessions implements Sessions: one HGETALL of the user's index, which
// holds a copy of each session (sessions are written once per connect, read
// on every push).
func (r *Redis) UserSessions(ctx context.Context, user string) ([]Session, error) {
	all, err := r.client.HGetAll(ctx, r.userKey(user)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(all) == 0 {
		return nil, nil
	}
	out := make([]Session, 0, len(all))
	for id, v := range all {
		s, ok := decodeSession(v)
		if !ok {
			return nil, unavailable(fmt.Errorf("undecodable session %q of user %q", id, user))
		}
		s.ID, s.User = id, user
		out = append(out, s)
	}
	return out, nil
}

// Join implements Sessions in three steps: record the room with the session
// (only while it is live, which also gives the node), add the member, then
// check the session again and undo the add if a Remove or Leave got in
// between. So a member whose session is gone never outlives its Join.
func (r *Redis) Join(ctx context.Context, room string, s Session) error {
	v, err := r.run(ctx, r.session, r.sessionKeys(s.ID), "join", room)
	if err != nil || v == nil {
		return err
	}
	node, _ := v.(string)
	if _, err := r.run(ctx, r.room, r.roomKeys(room), "add", s.ID, node); err != nil {
		return err
	}
	v, err = r.run(ctx, r.session, r.sessionKeys(s.ID), "check", room)
	if err != nil {
		return err
	}
	switch now, _ := v.(string); {
	case v == nil:
		_, err = r.run(ctx, r.room, r.roomKeys(room), "del", s.ID)
	case now != node: // the session moved meanwhile
		_, err = r.run(ctx, r.room, r.roomKeys(room), "move", s.ID, now)
	}
	return err
}

// Leave implements Sessions: the session forgets the room first, then the
// room its member, so a racing Join's check sees the leave and undoes itself.
func (r *Redis) Leave(ctx context.Context, room string, s Session) error {
	if err := r.client.SRem(ctx, r.sessionKeys(s.ID)[1], room).Err(); err != nil {
		return unavailable(err)
	}
	_, err := r.run(ctx, r.room, r.roomKeys(room), "del", s.ID)
	return err
}

// Room implements Sessions: one script, so count and nodes agree. Nodes come sorted.
func (r *Redis) Room(ctx context.Context, room string) (int, []string, error) {
	v, err := r.run(ctx, r.room, r.roomKeys(room), "info", "")
	if err != nil {
		return 0, nil, err
	}
	res, _ := v.([]any)
	if len(res) == 0 {
		return 0, nil, unavailable(fmt.Errorf("room info returned %v", v))
	}
	n, _ := res[0].(int64)
	if n == 0 {
		return 0, nil, nil
	}
	nodes := make([]string, 0, len(res)-1)
	for _, x := range res[1:] {
		s, _ := x.(string)
		nodes = append(nodes, s)
	}
	slices.Sort(nodes)
	return int(n), nodes, nil
}

// RememberRoom implements Sessions: one script on the device's key.
func (r *Redis) RememberRoom(ctx context.Context, user, device, room string, joined bool) error {
	op := "leave"
	if joined {
		op = "join"
	}
	_, err := r.run(ctx, r.device, []string{r.deviceKey(user, device)},
		op, r.now().UnixMilli(), room, r.ttl, safetySlack.Milliseconds())
	return err
}

// DeviceRooms implements Sessions. Rooms come sorted.
func (r *Redis) DeviceRooms(ctx context.Context, user, device string) ([]string, error) {
	v, err := r.run(ctx, r.device, []string{r.deviceKey(user, device)}, "list", r.now().UnixMilli())
	if err != nil {
		return nil, err
	}
	res, _ := v.([]any)
	if len(res) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(res))
	for _, x := range res {
		s, _ := x.(string)
		out = append(out, s)
	}
	slices.Sort(out)
	return out, nil
}

// NodeSessions implements Sessions: the node list, then one SCARD per node
// in one pipeline (all node keys share a slot).
func (r *Redis) NodeSessions(ctx context.Context) (map[string]int, error) {
	names, err := r.client.SMembers(ctx, r.nodesKey()).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make(map[string]int, len(names))
	if len(names) == 0 {
		return out, nil
	}
	cmds, err := r.pipe(ctx, func(p redis.Pipeliner) {
		for _, n := range names {
			p.SCard(ctx, r.nodeKey(n))
		}
	})
	if err != nil {
		return nil, err
	}
	for i, c := range cmds {
		if k := c.(*redis.IntCmd).Val(); k > 0 {
			out[names[i]] = int(k)
		}
	}
	return out, nil
}

// PurgeNode implements Sessions: it walks the node's own index (SSCAN, in
// batches of purgeBatch) and removes those sessions, so its cost follows
// that node's sessions, not the cluster's.
func (r *Redis) PurgeNode(ctx context.Context, node string) (int, error) {
	key := r.nodeKey(node)
	seen := make(map[string]struct{})
	total := 0
	var cursor uint64
	for {
		ids, next, err := r.client.SScan(ctx, key, cursor, "", purgeBatch).Result()
		if err != nil {
			return total, unavailable(err)
		}
		batch := ids[:0]
		for _, id := range ids { // SSCAN may return an element twice
			if _, dup := seen[id]; !dup {
				seen[id] = struct{}{}
				batch = append(batch, id)
			}
		}
		if len(batch) > 0 {
			n, err := r.removeMany(ctx, batch, node)
			total += n
			if err != nil {
				return total, err
			}
		}
		if cursor = next; cursor == 0 {
			return total, nil
		}
	}
}

// encodeSession is the user index's copy of a session, readable in
// redis-cli: "<connected ms>:<len(device)>:<device><node>".
func encodeSession(s Session) string {
	var b strings.Builder
	b.WriteString(strconv.FormatInt(s.ConnectedAt.UnixMilli(), 10))
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(len(s.Device)))
	b.WriteByte(':')
	b.WriteString(s.Device)
	b.WriteString(s.Node)
	return b.String()
}

func decodeSession(v string) (Session, bool) {
	at, rest, ok := strings.Cut(v, ":")
	if !ok {
		return Session{}, false
	}
	ms, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return Session{}, false
	}
	l, rest, ok := strings.Cut(rest, ":")
	n, err := strconv.Atoi(l)
	if !ok || err != nil || n < 0 || n > len(rest) {
		return Session{}, false
	}
	return Session{Device: rest[:n], Node: rest[n:], ConnectedAt: time.UnixMilli(ms)}, true
}

// dyeKey holds a user's environment: one key of its own, read once per command.
func (r *Redis) dyeKey(user string) string { return "{" + r.prefix + ":y:" + user + "}:dye" }

// SetDye implements Dyes.
func (r *Redis) SetDye(ctx context.Context, user, env string) error {
	var err error
	if env == "" {
		err = r.client.Del(ctx, r.dyeKey(user)).Err()
	} else {
		err = r.client.Set(ctx, r.dyeKey(user), env, 0).Err()
	}
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Dye implements Dyes.
func (r *Redis) Dye(ctx context.Context, user string) (string, error) {
	env, err := r.client.Get(ctx, r.dyeKey(user)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", unavailable(err)
	}
	return env, nil
}
