-- Inspect: ARGV now, deviceTTL, limit. Read-only: it calls none of the
-- library's writers (expire, loadDev, saveDev), so an operator's look
-- changes nothing. Returns {last, held, {seq, msg, ...} newest first,
-- {device, cursor, {seq, msg, ...}, ...}}.
local now, ttl, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local last = lastSeq()

-- the unexpired seqs, read once for the recent list and every device
local alive, held = {}, 0
for _, s in ipairs(redis.call('ZRANGEBYSCORE', x, '(' .. fmt(now), '+inf')) do alive[s], held = true, held + 1 end
local function live(seq) return alive[seq] ~= nil end

local function withMessages(seqs)
  local out = {}
  if #seqs == 0 then return out end
  local msgs = redis.call('HMGET', m, unpack(seqs))
  for k, s in ipairs(seqs) do
    if msgs[k] then
      out[#out + 1] = tonumber(s)
      out[#out + 1] = msgs[k]
    end
  end
  return out
end

local recent = {}
local top = redis.call('ZREVRANGE', q, 0, limit + 100)
for _, s in ipairs(top) do
  if #recent == limit then break end
  if live(s) then recent[#recent + 1] = s end
end

local devices = {}
local all = redis.call('HGETALL', devs)
for i = 1, #all, 2 do
  local d = {low = 0, seen = 0, acked = {}}
  local k = 0
  for w in string.gmatch(all[i + 1], '%d+') do
    local n = tonumber(w)
    if k == 0 then d.low = n elseif k == 1 then d.seen = n else d.acked[#d.acked + 1] = n end
    k = k + 1
  end
  if now - d.seen < ttl then
    local acked = {}
    for _, a in ipairs(d.acked) do acked[a] = true end
    -- the cursor as advance would leave it: past contiguous acks and gaps
    local cursor = d.low
    local pending = {}
    -- streams hold at most their limit of messages: read them all
    for _, s in ipairs(redis.call('ZRANGEBYSCORE', q, '(' .. fmt(d.low), '+inf')) do
      local seq = tonumber(s)
      if not acked[seq] and live(s) then
        pending[#pending + 1] = s
        if #pending == limit then break end
      elseif #pending == 0 then
        cursor = seq
      end
    end
    if #pending == 0 then cursor = math.max(cursor, last) end
    devices[#devices + 1] = all[i]
    devices[#devices + 1] = cursor
    devices[#devices + 1] = withMessages(pending)
  end
end
return {last, held, withMessages(recent), devices}
