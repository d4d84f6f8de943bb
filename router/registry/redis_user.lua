-- One user, in its own slot: KEYS[1] hash session id -> encoded session (the
-- user's live sessions), KEYS[2] set of rooms one session was put in (a
-- superset of its memberships, kept after it left until the clean-up is
-- done; see router/README.md), KEYS[3] one device's remembered rooms
-- (arrive only). ARGV[1] the operation, ARGV[2] the session id.
local sessions, rooms, device, op, id = KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2]

-- nodeOf reads the node out of an encoded session "<ms>:<len>:<device><node>".
local function nodeOf(v)
  local _, _, n, rest = string.find(v, '^%-?%d+:(%d+):(.*)$')
  return string.sub(rest, tonumber(n) + 1)
end

if op == 'arrive' then
  -- ARGV encoded session, now ms, keep ms, max rooms. Registers a new
  -- session and returns the user's live sessions (this one included),
  -- then its device's remembered rooms (sorted, at most max), recorded as
  -- the session's rooms for the caller to enter.
  local now, keep, max = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
  redis.call('HSET', sessions, id, ARGV[3])
  redis.call('PEXPIRE', sessions, keep)
  local live = redis.call('HLEN', sessions)
  local d = redis.call('HGETALL', device)
  local out = {}
  for i = 1, #d, 2 do
    if d[i] == 'exp' and now >= tonumber(d[i + 1]) then
      redis.call('DEL', device) -- forgotten: judged by the caller's clock
      return {live}
    end
    if string.sub(d[i], 1, 2) == 'r:' then out[#out + 1] = string.sub(d[i], 3) end
  end
  table.sort(out)
  while #out > max do table.remove(out) end
  if #out > 0 then
    redis.call('SADD', rooms, unpack(out))
    redis.call('PEXPIRE', rooms, keep)
  end
  table.insert(out, 1, live)
  return out
elseif op == 'add' then
  -- ARGV encoded session, keep ms. Returns {old node ('' when new), rooms
  -- to move...}; rooms only when the node changed.
  local old = redis.call('HGET', sessions, id)
  redis.call('HSET', sessions, id, ARGV[3])
  redis.call('PEXPIRE', sessions, ARGV[4])
  if not old then return {''} end
  local out = {nodeOf(old)}
  if out[1] ~= nodeOf(ARGV[3]) then
    for _, r in ipairs(redis.call('SMEMBERS', rooms)) do out[#out + 1] = r end
  end
  return out
elseif op == 'join' then
  -- ARGV room, keep ms. Records the room and returns the session's node, or
  -- false when the session is not live (a late join leaves no trace).
  local v = redis.call('HGET', sessions, id)
  if not v then return false end
  redis.call('SADD', rooms, ARGV[3])
  redis.call('PEXPIRE', rooms, ARGV[4])
  return nodeOf(v)
elseif op == 'check' then
  -- ARGV room. The node when the session is live and still in room, else false.
  local v = redis.call('HGET', sessions, id)
  if not v or redis.call('SISMEMBER', rooms, ARGV[3]) == 0 then return false end
  return nodeOf(v)
elseif op == 'remove' then
  -- ARGV node ('' = any). Forgets the session, so joins from now on do
  -- nothing, but keeps its rooms for the clean-up that follows (and for a
  -- PurgeNode that repeats it if this caller dies). Returns false when the
  -- session is live on another node (left alone), else {was live (1/0), rooms...}.
  local live
  if ARGV[3] == '' then
    live = redis.call('HDEL', sessions, id)
  else
    local v = redis.call('HGET', sessions, id)
    if v and nodeOf(v) ~= ARGV[3] then return false end
    live = v and redis.call('HDEL', sessions, id) or 0
  end
  local out = {live}
  for _, r in ipairs(redis.call('SMEMBERS', rooms)) do out[#out + 1] = r end
  return out
end
return redis.error_reply('unknown op ' .. tostring(op))
