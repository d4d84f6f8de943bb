package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Add implements Sessions: the user's slot first (the truth), then the
// node index and, when the node changed, the rooms.
func (r *Redis) Add(ctx context.Context, s Session) error {
	v, err := r.run(ctx, r.user, r.userKeys(s.User, s.ID), "add", s.ID, encodeSession(s), r.keep())
	if err != nil {
		return err
	}
	res, _ := v.([]any)
	if len(res) < 1 {
		return unavailable(fmt.Errorf("session add returned %v", v))
	}
	oldNode, _ := res[0].(string)
	member := nodeMember(s.ID, s.User)
	_, err = r.pipe(ctx, func(p redis.Pipeliner) {
		if oldNode != "" && oldNode != s.Node {
			p.SRem(ctx, r.nodeKey(oldNode, nodeBucket(s.ID)), member)
		}
		// Always, even when unchanged: it also repairs an Add whose caller died here.
		p.SAdd(ctx, r.nodeKey(s.Node, nodeBucket(s.ID)), member)
		for _, room := range stringsOf(res[1:]) {
			evalSha(ctx, p, r.room, r.roomKeys(room), "move", s.ID, s.Node)
		}
	})
	return err
}

// userKeys are the keys of the user script for session id: its user's
// sessions, its rooms, and (for arrive) a device's rooms, else the first again.
func (r *Redis) userKeys(user, id string, device ...string) []string {
	third := r.userKey(user)
	if len(device) > 0 {
		third = r.deviceKey(user, device[0])
	}
	return []string{r.userKey(user), r.sessionRoomsKey(user, id), third}
}

// Arrive implements Sessions: one pipeline of the user script (register,
// read and record the device's rooms) and the node index.
func (r *Redis) Arrive(ctx context.Context, s Session, maxRooms int) (Arrived, error) {
	var arrived func() (Arrived, error)
	_, err := r.pipe(ctx, func(p redis.Pipeliner) { arrived = r.QueueArrive(ctx, p, s, maxRooms) })
	if err != nil {
		return Arrived{}, err
	}
	return arrived()
}

// QueueArrive queues Arrive on p, for a caller that batches it with other
// stores' work in one pipeline; the returned func reads its reply once p
// has run. A NOSCRIPT error means LoadScripts, then the whole batch again.
func (r *Redis) QueueArrive(ctx context.Context, p redis.Pipeliner, s Session, maxRooms int) func() (Arrived, error) {
	cmd := r.user.EvalSha(ctx, p, r.userKeys(s.User, s.ID, s.Device),
		"arrive", s.ID, encodeSession(s), r.now().UnixMilli(), r.keep(), max(maxRooms, 0))
	p.SAdd(ctx, r.nodeKey(s.Node, nodeBucket(s.ID)), nodeMember(s.ID, s.User))
	return func() (Arrived, error) {
		v, err := cmd.Result()
		if err != nil {
			return Arrived{}, unavailable(err)
		}
		res, _ := v.([]any)
		if len(res) == 0 {
			return Arrived{}, unavailable(errors.New("arrive answered nothing"))
		}
		n, _ := res[0].(int64)
		return Arrived{Rooms: stringsOf(res[1:]), Sessions: int(n)}, nil
	}
}

// Enter implements Sessions: one room script per room, in one pipeline.
func (r *Redis) Enter(ctx context.Context, s Session, rooms []string) error {
	_, err := r.pipe(ctx, func(p redis.Pipeliner) { r.QueueEnter(ctx, p, s, rooms) })
	return err
}

// QueueEnter queues Enter on p (see QueueArrive); errors show in p's.
func (r *Redis) QueueEnter(ctx context.Context, p redis.Pipeliner, s Session, rooms []string) {
	for _, room := range rooms {
		evalSha(ctx, p, r.room, r.roomKeys(room), "add", s.ID, s.Node)
	}
}

// stringsOf reads a script's array reply (or part of it) as strings.
func stringsOf(res []any) []string {
	if len(res) == 0 {
		return nil
	}
	out := make([]string, 0, len(res))
	for _, x := range res {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// Remove implements Sessions.
func (r *Redis) Remove(ctx context.Context, sessions ...Session) error {
	if len(sessions) == 0 {
		return nil
	}
	list := make([]indexed, len(sessions))
	for i, s := range sessions {
		list[i] = indexed{id: s.ID, user: s.User, node: s.Node}
	}
	_, err := r.removeMany(ctx, list, "")
	return err
}

// indexed is a session as its node's index knows it.
type indexed struct{ id, user, node string }

// removeMany removes sessions in up to three pipelined rounds, each idempotent:
//  1. in each user's slot, forget the session (joins from now on do
//     nothing) and read the rooms it was put in;
//  2. take it out of those rooms;
//  3. forget its rooms and take it out of its node's index.
//
// A caller that dies between rounds leaves the session in its node index,
// so the PurgeNode that follows its node's death repeats the whole. With
// node != "" only sessions on that node are removed (PurgeNode); an index
// entry of a session now live elsewhere is dropped alone. It returns how
// many live sessions it removed.
func (r *Redis) removeMany(ctx context.Context, sessions []indexed, node string) (int, error) {
	cmds, err := r.pipe(ctx, func(p redis.Pipeliner) {
		for _, s := range sessions {
			evalSha(ctx, p, r.user, r.userKeys(s.user, s.id), "remove", s.id, node)
		}
	})
	if err != nil {
		return 0, err
	}
	n := 0
	rooms := make([][]string, len(sessions))
	for i, c := range cmds {
		res, _ := c.(*redis.Cmd).Val().([]any)
		if len(res) == 0 {
			continue // live on another node: only the stale index entry goes
		}
		if res[0] == int64(1) {
			n++
		}
		rooms[i] = stringsOf(res[1:])
	}
	_, err = r.pipe(ctx, func(p redis.Pipeliner) {
		for i, s := range sessions {
			for _, room := range rooms[i] {
				evalSha(ctx, p, r.room, r.roomKeys(room), "del", s.id)
			}
		}
	})
	if err != nil {
		return 0, err
	}
	_, err = r.pipe(ctx, func(p redis.Pipeliner) {
		for i, s := range sessions {
			if len(rooms[i]) > 0 {
				p.Del(ctx, r.sessionRoomsKey(s.user, s.id))
			}
			p.SRem(ctx, r.nodeKey(s.node, nodeBucket(s.id)), nodeMember(s.id, s.user))
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
	keys := r.userKeys(s.User, s.ID)
	v, err := r.run(ctx, r.user, keys, "join", s.ID, room, r.keep())
	if err != nil || v == nil {
		return err
	}
	node, _ := v.(string)
	if _, err := r.run(ctx, r.room, r.roomKeys(room), "add", s.ID, node); err != nil {
		return err
	}
	v, err = r.run(ctx, r.user, keys, "check", s.ID, room)
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
	if err := r.client.SRem(ctx, r.sessionRoomsKey(s.User, s.ID), room).Err(); err != nil {
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

// RoomNodes implements Sessions: the room's per-node counts, one script.
func (r *Redis) RoomNodes(ctx context.Context, room string) (map[string]int, error) {
	v, err := r.run(ctx, r.room, r.roomKeys(room), "nodes", "")
	if err != nil {
		return nil, err
	}
	res, _ := v.([]any)
	out := make(map[string]int, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		node, _ := res[i].(string)
		n, err := strconv.Atoi(fmt.Sprint(res[i+1]))
		if err != nil {
			return nil, unavailable(fmt.Errorf("room nodes returned %v", v))
		}
		if n > 0 {
			out[node] = n
		}
	}
	return out, nil
}

// RememberRoom implements Sessions: one script on the device's key.
func (r *Redis) RememberRoom(ctx context.Context, user, device, room string, joined bool) error {
	op := "leave"
	if joined {
		op = "join"
	}
	_, err := r.run(ctx, r.device, []string{r.deviceKey(user, device), r.devicesKey(user)},
		op, r.now().UnixMilli(), room, r.ttl, safetySlack.Milliseconds(), device, r.maxDevices, r.deviceKey(user, ""))
	return err
}

// DeviceRooms implements Sessions. Rooms come sorted.
func (r *Redis) DeviceRooms(ctx context.Context, user, device string) ([]string, error) {
	v, err := r.run(ctx, r.device, []string{r.deviceKey(user, device)}, "list", r.now().UnixMilli())
	if err != nil {
		return nil, err
	}
	res, _ := v.([]any)
	out := stringsOf(res)
	slices.Sort(out)
	return out, nil
}

// NodeSessions implements Sessions: one SCARD per bucket of each node, in
// one pipeline.
func (r *Redis) NodeSessions(ctx context.Context, nodes []string) (map[string]int, error) {
	cmds, err := r.pipe(ctx, func(p redis.Pipeliner) {
		for _, n := range nodes {
			for b := range nodeBuckets {
				p.SCard(ctx, r.nodeKey(n, b))
			}
		}
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(nodes))
	for i, c := range cmds {
		if k := c.(*redis.IntCmd).Val(); k > 0 {
			out[nodes[i/nodeBuckets]] += int(k)
		}
	}
	return out, nil
}

// KeepNode implements Sessions: SCARD and PEXPIRE of each bucket, in one
// pipeline. The TTL (the device TTL plus slack) only removes the index of a
// node that died with no one left to purge it.
func (r *Redis) KeepNode(ctx context.Context, node string) (int, error) {
	cmds, err := r.pipe(ctx, func(p redis.Pipeliner) {
		for b := range nodeBuckets {
			p.SCard(ctx, r.nodeKey(node, b))
			p.PExpire(ctx, r.nodeKey(node, b), time.Duration(r.keep())*time.Millisecond)
		}
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cmds {
		if k, ok := c.(*redis.IntCmd); ok {
			n += int(k.Val())
		}
	}
	return n, nil
}

// PurgeNode implements Sessions: it walks the node's own index (SSCAN of
// each bucket, in batches of purgeBatch) and removes those sessions, so its
// cost follows that node's sessions, not the cluster's.
func (r *Redis) PurgeNode(ctx context.Context, node string) (int, error) {
	total := 0
	for b := range nodeBuckets {
		n, err := r.purgeBucket(ctx, node, b)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (r *Redis) purgeBucket(ctx context.Context, node string, bucket int) (int, error) {
	key := r.nodeKey(node, bucket)
	seen := make(map[string]struct{})
	total := 0
	var cursor uint64
	for {
		members, next, err := r.client.SScan(ctx, key, cursor, "", purgeBatch).Result()
		if err != nil {
			return total, unavailable(err)
		}
		var batch []indexed
		for _, m := range members {
			if _, dup := seen[m]; dup { // SSCAN may return an element twice
				continue
			}
			seen[m] = struct{}{}
			if id, user, ok := parseNodeMember(m); ok {
				batch = append(batch, indexed{id: id, user: user, node: node})
			} else if err := r.client.SRem(ctx, key, m).Err(); err != nil {
				return total, unavailable(err)
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

// dyeKey holds a user's environment, "EXPIRES_MS:ENV": one key of its own,
// read once per command; dyesKey indexes the dyed users by expiry, for Dyes.
func (r *Redis) dyeKey(user string) string { return "{" + r.prefix + ":y:" + user + "}:dye" }
func (r *Redis) dyesKey() string           { return "{" + r.prefix + ":dyes}" }

// SetDye implements Dyes.
func (r *Redis) SetDye(ctx context.Context, user, env string, ttl time.Duration) error {
	now := r.now()
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		if env == "" {
			p.Del(ctx, r.dyeKey(user))
			p.ZRem(ctx, r.dyesKey(), user)
		} else {
			exp := now.Add(ttl).UnixMilli()
			p.Set(ctx, r.dyeKey(user), strconv.FormatInt(exp, 10)+":"+env, ttl+safetySlack)
			p.ZAdd(ctx, r.dyesKey(), redis.Z{Score: float64(exp), Member: user})
		}
		p.ZRemRangeByScore(ctx, r.dyesKey(), "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Dye implements Dyes.
func (r *Redis) Dye(ctx context.Context, user string) (string, error) {
	v, err := r.client.Get(ctx, r.dyeKey(user)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", unavailable(err)
	}
	env, exp, ok := decodeDye(v)
	if !ok || !r.now().Before(exp) {
		return "", nil
	}
	return env, nil
}

// Dyes implements Dyes.
func (r *Redis) Dyes(ctx context.Context) ([]Dye, error) {
	users, err := r.client.ZRangeArgs(ctx, redis.ZRangeArgs{Key: r.dyesKey(), ByScore: true,
		Start: "(" + strconv.FormatInt(r.now().UnixMilli(), 10), Stop: "+inf", Count: MaxDyes}).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	gets := make([]*redis.StringCmd, len(users))
	if _, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, u := range users {
			gets[i] = p.Get(ctx, r.dyeKey(u))
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	out := make([]Dye, 0, len(users))
	for i, u := range users {
		env, exp, ok := decodeDye(gets[i].Val())
		if ok && r.now().Before(exp) {
			out = append(out, Dye{User: u, Env: env, Expires: exp})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out, nil
}

func decodeDye(v string) (env string, exp time.Time, ok bool) {
	ms, env, found := strings.Cut(v, ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !found || err != nil || env == "" {
		return "", time.Time{}, false
	}
	return env, time.UnixMilli(n), true
}
