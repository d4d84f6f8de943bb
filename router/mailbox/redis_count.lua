-- PendingCount: ARGV now, deviceTTL, devices known besides... Counts held
-- messages some live device has not acknowledged (all of them with no live
-- device, or when one of the devices given acknowledged nothing here).
-- Forgets idle devices but is no activity: it touches nothing.
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])

if redis.call('EXISTS', meta) == 0 then return 0 end
expire(now)
local live, minLow, names = {}, nil, {}
local all = redis.call('HGETALL', devs)
for i = 1, #all, 2 do
  local d, known = loadDev(all[i], now, ttl)
  if known then
    names[all[i]] = true
    local set = {}
    for _, a in ipairs(d.acked) do set[a] = true end
    live[#live + 1] = {low = d.low, set = set}
    if not minLow or d.low < minLow then minLow = d.low end
  end
end
if #live == 0 then return redis.call('ZCARD', q) end
for i = 3, #ARGV do
  if not names[ARGV[i]] then return redis.call('ZCARD', q) end -- acknowledged nothing here
end
local n = 0
for _, s in ipairs(redis.call('ZRANGEBYSCORE', q, '(' .. fmt(minLow), '+inf')) do
  local seq = tonumber(s)
  for _, d in ipairs(live) do
    if seq > d.low and not d.set[seq] then n = n + 1; break end
  end
end
return n
