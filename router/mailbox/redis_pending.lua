-- Pending: ARGV now, deviceTTL, slack, device, after, limit (<= 0: all).
-- Returns {seq1, msg1, seq2, msg2, ...}. Makes the device known.
local now, ttl, slack = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dev, after, limit = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])

expire(now)
local d = loadDev(dev, now, ttl)
-- at most #acked candidates can be skipped, so limit+#acked is enough
local n = -1
if limit > 0 then n = limit + #d.acked end
local cand = redis.call('ZRANGEBYSCORE', q, '(' .. fmt(math.max(after, d.low)), '+inf', 'LIMIT', 0, n)
local seqs, a = {}, 1
for _, s in ipairs(cand) do
  local seq = tonumber(s)
  while d.acked[a] and d.acked[a] < seq do a = a + 1 end
  if d.acked[a] ~= seq then
    seqs[#seqs + 1] = s
    if limit > 0 and #seqs == limit then break end
  end
end
local out = {}
local chunk = 500 -- unpack() is bounded by the Lua C stack
for i = 1, #seqs, chunk do
  local part = {}
  for k = i, math.min(i + chunk - 1, #seqs) do part[#part + 1] = seqs[k] end
  local msgs = redis.call('HMGET', m, unpack(part))
  for k, s in ipairs(part) do
    out[#out + 1] = tonumber(s)
    out[#out + 1] = msgs[k]
  end
end
saveDev(dev, d, now)
redis.call('HSET', meta, 'touched', fmt(now))
keep(now, ttl, slack)
return out
