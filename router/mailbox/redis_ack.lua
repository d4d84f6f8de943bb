-- Ack: ARGV now, deviceTTL, slack, device, seq [, seq ...]. Makes the
-- device known. Several seqs of one device share the loads and the saves.
local now, ttl, slack = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dev = ARGV[4]

if redis.call('EXISTS', meta) == 0 then return 0 end -- nothing held: nothing to acknowledge
expire(now)
local last = lastSeq()
local d, known = loadDev(dev, now, ttl)
advance(d, last)
local unordered = false
for i = 5, #ARGV do
  local seq = tonumber(ARGV[i])
  if seq == d.low + 1 and seq <= last then
    d.low = seq -- in order: no set entry, and a seq no longer held is gone, as good as acknowledged
  elseif seq > d.low and seq <= last and redis.call('ZSCORE', q, fmt(seq)) then
    local lo, hi = 1, #d.acked + 1 -- binary search for the insert position
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if d.acked[mid] < seq then lo = mid + 1 else hi = mid end
    end
    if d.acked[lo] ~= seq then table.insert(d.acked, lo, seq) end
    unordered = true
  end
end
if unordered or #d.acked > 0 then advance(d, last) end
saveDev(dev, d, now)
-- The stream's touch time and key TTLs move on at most every keepEvery:
-- acks come by the thousand per second on a busy room, and the TTLs carry
-- slack well above that lag.
local keepEvery = math.min(slack / 2, ttl / 100)
local touched = tonumber(redis.call('HGET', meta, 'touched') or '0')
if not known or now - touched >= keepEvery then -- a new device: its hash may be new too
  redis.call('HSET', meta, 'touched', fmt(now))
  keep(now, ttl, slack)
end
return 1
