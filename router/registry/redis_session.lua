-- One session, in its own slot: KEYS[1] hash (user, device, node, at, dead),
-- KEYS[2] set of rooms the session was put in (a superset of its real
-- memberships; see router/README.md). ARGV[1] is the operation.
local h, rooms, op = KEYS[1], KEYS[2], ARGV[1]

local function live() return redis.call('EXISTS', h) == 1 and not redis.call('HGET', h, 'dead') end

if op == 'add' then
  -- ARGV user, device, node, at. Returns {new (1/0), old user, old node, rooms
  -- to move...}; rooms only when the node changed.
  local user, device, node, at = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
  if not live() then
    -- new, or an id whose Remove is still under way: a fresh session, in no room
    redis.call('DEL', h, rooms)
    redis.call('HSET', h, 'user', user, 'device', device, 'node', node, 'at', at)
    return {1, '', ''}
  end
  local old = redis.call('HMGET', h, 'user', 'node')
  redis.call('HSET', h, 'user', user, 'device', device, 'node', node, 'at', at)
  local out = {0, old[1], old[2]}
  if old[2] ~= node then
    for _, r in ipairs(redis.call('SMEMBERS', rooms)) do out[#out + 1] = r end
  end
  return out
elseif op == 'join' then
  -- ARGV room. Records the room and returns the session's node, or false
  -- when the session is not live (a late join leaves no trace).
  if not live() then return false end
  redis.call('SADD', rooms, ARGV[2])
  return redis.call('HGET', h, 'node')
elseif op == 'check' then
  -- ARGV room. The node when the session is live and still in room, else false.
  if not live() or redis.call('SISMEMBER', rooms, ARGV[2]) == 0 then return false end
  return redis.call('HGET', h, 'node')
elseif op == 'remove' then
  -- ARGV expected node ('' = any), safety ms. Marks the session dead, so
  -- joins from now on do nothing, but keeps its rooms for the clean-up that
  -- follows (and for a PurgeNode that repeats it if this caller dies).
  -- Returns false when absent or on another node, else {was live (1/0), user, node, rooms...}.
  if redis.call('EXISTS', h) == 0 then return false end
  local s = redis.call('HMGET', h, 'user', 'node', 'dead')
  if ARGV[2] ~= '' and s[2] ~= ARGV[2] then return false end
  local out = {s[3] and 0 or 1, s[1], s[2]}
  redis.call('HSET', h, 'dead', '1')
  redis.call('PEXPIRE', h, ARGV[3])
  redis.call('PEXPIRE', rooms, ARGV[3])
  for _, r in ipairs(redis.call('SMEMBERS', rooms)) do out[#out + 1] = r end
  return out
elseif op == 'gone' then
  -- the clean-up is done: delete what Remove marked, unless re-added since
  if redis.call('HGET', h, 'dead') then redis.call('DEL', h, rooms) end
  return 1
end
return redis.error_reply('unknown op ' .. tostring(op))
