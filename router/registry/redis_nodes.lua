-- Node indexes, all in the one slot of the tag {prefix:nodes}: KEYS[1] the set
-- of node names, KEYS[2] the session-id set of the node a session leaves (or
-- the purged node), KEYS[3] the set of the node it joins. ARGV op, session
-- id, old node, new node. One slot, so the node list and each node's count
-- never disagree.
local all, from, to, op, id = KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2]

local function leave(node)
  redis.call('SREM', from, id)
  if redis.call('SCARD', from) == 0 then redis.call('SREM', all, node) end
end

if op == 'move' then
  if ARGV[3] ~= '' and ARGV[3] ~= ARGV[4] then leave(ARGV[3]) end
  redis.call('SADD', to, id)
  redis.call('SADD', all, ARGV[4])
  return 1
elseif op == 'del' then
  leave(ARGV[3])
  return 1
end
return redis.error_reply('unknown op ' .. tostring(op))
