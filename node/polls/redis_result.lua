-- SetLastResult: KEYS tasks, lease, result; ARGV name, token, now ms, hash.
-- A result is "token at changed hash". Refused (0) unless the task exists
-- and token is its lease's token: the fencing check.
local name, token, now, hash = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HEXISTS', KEYS[1], name) == 0 then return 0 end
local cur = redis.call('HGET', KEYS[2], name)
if not cur then return 0 end
local tok = string.match(cur, '^(%d+) ')
if tok ~= token then return 0 end
local changed = now
local old = redis.call('HGET', KEYS[3], name)
if old then
  local _, _, ch, h = string.match(old, '^(%d+) (%d+) (%d+) (.*)$')
  if h == hash then changed = ch end
end
redis.call('HSET', KEYS[3], name, token .. ' ' .. now .. ' ' .. changed .. ' ' .. hash)
return 1
