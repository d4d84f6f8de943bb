-- Pending: ARGV now, deviceTTL, slack, device, after, limit (<= 0: all).
-- Returns {seq1, msg1, seq2, msg2, ...}. Makes the device known. It runs on
-- every connect, so it writes only what changed: a stream nobody wrote to
-- costs one read, and the device's activity and the stream's TTLs move on
-- at most every keepEvery (as in Ack).
local now, ttl, slack = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dev, after, limit = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local keepEvery = math.min(slack / 2, ttl / 100)

local mt = redis.call('HMGET', meta, 'last', 'touched')
if not mt[1] then return {} end -- never written (or forgotten): nothing to read
expire(now)
local d, known = loadDev(dev, now, ttl)
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
if not known or now - d.seen >= keepEvery then saveDev(dev, d, now) end
if not known or now - tonumber(mt[2] or '0') >= keepEvery then -- a new device: its hash may be new too
  redis.call('HSET', meta, 'touched', fmt(now))
  keep(now, ttl, slack)
end
return out
