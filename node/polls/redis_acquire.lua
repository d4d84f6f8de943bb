-- Acquire: KEYS tasks, lease, fence; ARGV name, node, now ms, ttl ms.
-- A lease is "token expires node"; expiry is judged by the caller's clock.
-- Returns the new token, or 0 when the task is gone or held by another node.
local name, node, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('HEXISTS', KEYS[1], name) == 0 then return 0 end
local cur = redis.call('HGET', KEYS[2], name)
if cur then
  local _, exp, holder = string.match(cur, '^(%d+) (%d+) (.*)$')
  if now < tonumber(exp) and holder ~= node then return 0 end
end
local token = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], name, string.format('%.0f', token) .. ' ' .. string.format('%.0f', now + ttl) .. ' ' .. node)
return token
