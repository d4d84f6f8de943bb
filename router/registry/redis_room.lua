-- One room, in its own slot: KEYS[1] hash session id -> node (members),
-- KEYS[2] hash node -> members on it. ARGV op, session id, node.
local members, nodes, op, id = KEYS[1], KEYS[2], ARGV[1], ARGV[2]

if op == 'info' then
  -- {members, node...}: read together so the count and the nodes agree
  local out = {redis.call('HLEN', members)}
  for _, n in ipairs(redis.call('HKEYS', nodes)) do out[#out + 1] = n end
  return out
end
if op == 'nodes' then return redis.call('HGETALL', nodes) end

local old = redis.call('HGET', members, id)
local function unset()
  redis.call('HDEL', members, id)
  if redis.call('HINCRBY', nodes, old, -1) <= 0 then redis.call('HDEL', nodes, old) end
end

if op == 'add' or (op == 'move' and old) then
  local node = ARGV[3]
  if old == node then return 0 end
  if old then unset() end
  redis.call('HSET', members, id, node)
  redis.call('HINCRBY', nodes, node, 1)
  return 1
elseif op == 'del' then
  if old then unset(); return 1 end
  return 0
elseif op == 'move' then
  return 0 -- not a member: nothing to move
end
return redis.error_reply('unknown op ' .. tostring(op))
