-- Remembered rooms of one device: KEYS[1] hash "r:"..room -> 1 and "exp" ->
-- ms after which the whole device is forgotten (judged by the caller's clock;
-- the key's PEXPIRE is only the safety net). ARGV op, now, room, ttl, slack.
local k, op, now = KEYS[1], ARGV[1], tonumber(ARGV[2])

local exp = redis.call('HGET', k, 'exp')
if exp and now >= tonumber(exp) then
  redis.call('DEL', k)
end

if op == 'join' then
  local ttl = tonumber(ARGV[4])
  redis.call('HSET', k, 'r:' .. ARGV[3], '1', 'exp', string.format('%.0f', now + ttl))
  redis.call('PEXPIRE', k, string.format('%.0f', ttl + tonumber(ARGV[5])))
  return 1
elseif op == 'leave' then
  -- a leave does not refresh the device's life
  redis.call('HDEL', k, 'r:' .. ARGV[3])
  if redis.call('HLEN', k) <= 1 then redis.call('DEL', k) end
  return 1
elseif op == 'list' then
  local out = {}
  for _, f in ipairs(redis.call('HKEYS', k)) do
    if string.sub(f, 1, 2) == 'r:' then out[#out + 1] = string.sub(f, 3) end
  end
  return out
end
return redis.error_reply('unknown op ' .. tostring(op))
