-- Append: ARGV now, deviceTTL, slack, limit, id, expires, payload.
-- Returns {seq, created (1/0)}.
local now, ttl, slack, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local id, expires, payload = ARGV[5], tonumber(ARGV[6]), ARGV[7]

expire(now)
local touched = tonumber(redis.call('HGET', meta, 'touched') or now)
if redis.call('ZCARD', q) == 0 and now - touched >= ttl then
  -- empty and idle for the device TTL: forgotten, so the seq restarts
  redis.call('DEL', meta, devs, ids)
end
redis.call('HSET', meta, 'touched', fmt(now))
if id ~= '' then
  local seq = redis.call('HGET', ids, 'i' .. id)
  if seq then
    keep(now, ttl, slack)
    return {tonumber(seq), 0}
  end
end
local seq = redis.call('HINCRBY', meta, 'last', 1)
if expires > now then
  while redis.call('ZCARD', q) >= limit do
    local old = redis.call('ZRANGE', q, 0, 0)
    drop(old[1])
  end
  local s = fmt(seq)
  redis.call('ZADD', q, s, s)
  redis.call('ZADD', x, fmt(expires), s)
  redis.call('HSET', m, s, payload)
  if id ~= '' then redis.call('HSET', ids, 'i' .. id, s, 's' .. s, id) end
end
keep(now, ttl, slack)
return {seq, 1}
