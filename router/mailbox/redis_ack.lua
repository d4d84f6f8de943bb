-- Ack: ARGV now, deviceTTL, slack, device, seq [, seq ...]. Makes the
-- device known. Several seqs of one device share the loads and the saves.
local now, ttl, slack = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dev = ARGV[4]

if redis.call('EXISTS', meta) == 0 then return 0 end -- nothing held: nothing to acknowledge
expire(now)
local last = lastSeq()
local d = loadDev(dev, now, ttl)
advance(d, last)
for i = 5, #ARGV do
  local seq = tonumber(ARGV[i])
  if seq > d.low and seq <= last and redis.call('ZSCORE', q, fmt(seq)) then
    if seq == d.low + 1 then
      d.low = seq -- in-order ack: no set entry at all
    else
      local lo, hi = 1, #d.acked + 1 -- binary search for the insert position
      while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        if d.acked[mid] < seq then lo = mid + 1 else hi = mid end
      end
      if d.acked[lo] ~= seq then table.insert(d.acked, lo, seq) end
    end
    advance(d, last)
  end
end
saveDev(dev, d, now)
redis.call('HSET', meta, 'touched', fmt(now))
keep(now, ttl, slack)
return 1
