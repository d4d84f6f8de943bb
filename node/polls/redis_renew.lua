-- Renew: KEYS lease; ARGV name, node, token, now ms, ttl ms.
-- Release: the same with ttl = -1 deletes the lease instead.
-- Returns 1 when node holds the lease with token (expired or not).
local name, node, token, now, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local cur = redis.call('HGET', KEYS[1], name)
if not cur then return 0 end
local tok, _, holder = string.match(cur, '^(%d+) (%d+) (.*)$')
if tok ~= token or holder ~= node then return 0 end
if ttl < 0 then
  redis.call('HDEL', KEYS[1], name)
else
  redis.call('HSET', KEYS[1], name, tok .. ' ' .. string.format('%.0f', now + ttl) .. ' ' .. node)
end
return 1
