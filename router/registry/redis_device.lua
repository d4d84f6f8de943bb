-- Remembered rooms of one device: KEYS[1] hash "r:"..room -> 1 and "exp" ->
-- ms after which the whole device is forgotten (judged by the caller's clock;
-- the key's PEXPIRE is only the safety net). ARGV op, now, room, ttl, slack.
-- For join and leave, KEYS[2] is the user's devices (sorted set: device ->
-- ms of its last join) and ARGV[6..8] the device, the most devices a user
-- may have remembered, and the prefix of the user's device keys: a join of
-- a new device past the bound forgets the least recently joined ones.
local k, op, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local devs, dev = KEYS[2], ARGV[6]

local exp = redis.call('HGET', k, 'exp')
if exp and now >= tonumber(exp) then
  redis.call('DEL', k)
  if devs then redis.call('ZREM', devs, dev) end
end

if op == 'join' then
  local ttl = tonumber(ARGV[4])
  if devs then
    if not redis.call('ZSCORE', devs, dev) then
      local maxd, base = tonumber(ARGV[7]), ARGV[8]
      local n = redis.call('ZCARD', devs)
      while n >= maxd do
        local old = redis.call('ZPOPMIN', devs)
        redis.call('DEL', base .. old[1])
        n = n - 1
      end
    end
    redis.call('ZADD', devs, now, dev)
    redis.call('PEXPIRE', devs, string.format('%.0f', ttl + tonumber(ARGV[5])))
  end
  redis.call('HSET', k, 'r:' .. ARGV[3], '1', 'exp', string.format('%.0f', now + ttl))
  redis.call('PEXPIRE', k, string.format('%.0f', ttl + tonumber(ARGV[5])))
  return 1
elseif op == 'leave' then
  -- a leave does not refresh the device's life
  redis.call('HDEL', k, 'r:' .. ARGV[3])
  if redis.call('HLEN', k) <= 1 then
    redis.call('DEL', k)
    if devs then redis.call('ZREM', devs, dev) end
  end
  return 1
elseif op == 'list' then
  local out = {}
  for _, f in ipairs(redis.call('HKEYS', k)) do
    if string.sub(f, 1, 2) == 'r:' then out[#out + 1] = string.sub(f, 3) end
  end
  return out
end
return redis.error_reply('unknown op ' .. tostring(op))
