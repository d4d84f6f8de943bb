-- Shared by every stream script (prepended in Go). All keys of one stream
-- share one hash tag, so each script runs on one Redis Cluster slot.
--   KEYS[1] meta  hash: last (newest seq ever issued), touched (ms of last Append/Pending/Ack)
--   KEYS[2] q     zset: member seq, score seq        (held messages in seq order)
--   KEYS[3] x     zset: member seq, score Expires ms (expiry order)
--   KEYS[4] m     hash: seq -> encoded message (opaque to Lua)
--   KEYS[5] ids   hash: "i"..id -> seq and "s"..seq -> id (idempotency, both ways)
--   KEYS[6] devs  hash: device -> "low seen acked1 acked2 ..." (ascending acks above low)
-- Times come from the caller's clock (ARGV), never from Redis TIME: the
-- node's clock is the one the contract is written against.
local meta, q, x, m, ids, devs = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

local function fmt(n) return string.format('%.0f', n) end

-- drop forgets one held message (seq as a string).
local function drop(seq)
  redis.call('ZREM', q, seq)
  redis.call('ZREM', x, seq)
  redis.call('HDEL', m, seq)
  local id = redis.call('HGET', ids, 's' .. seq)
  if id then redis.call('HDEL', ids, 's' .. seq, 'i' .. id) end
end

-- expire drops every message with Expires <= now; O(log n) when none has.
local function expire(now)
  for _, seq in ipairs(redis.call('ZRANGEBYSCORE', x, '-inf', fmt(now))) do drop(seq) end
end

local function lastSeq() return tonumber(redis.call('HGET', meta, 'last') or '0') end

-- loadDev returns the live state of a device (fresh when unknown or idle for
-- ttl) and whether it is known.
local function loadDev(dev, now, ttl)
  local s = redis.call('HGET', devs, dev)
  local d = {low = 0, seen = 0, acked = {}}
  if not s then return d, false end
  local i = 0
  for w in string.gmatch(s, '%d+') do
    local n = tonumber(w)
    if i == 0 then d.low = n elseif i == 1 then d.seen = n else d.acked[#d.acked + 1] = n end
    i = i + 1
  end
  if now - d.seen >= ttl then
    redis.call('HDEL', devs, dev)
    return {low = 0, seen = 0, acked = {}}, false
  end
  return d, true
end

local function saveDev(dev, d, now)
  local parts = {fmt(d.low), fmt(now)}
  for _, a in ipairs(d.acked) do parts[#parts + 1] = fmt(a) end
  redis.call('HSET', devs, dev, table.concat(parts, ' '))
end

-- advance moves d.low past contiguous acknowledged seqs and past seqs the
-- stream no longer holds, so d.acked only keeps acks above a real hole
-- (the same walk as stream.advance in stream.go). Each match consumes one
-- ack, so #acked+1 held seqs are all it can look at.
local function advance(d, last)
  if d.low < last then
    local held = redis.call('ZRANGEBYSCORE', q, '(' .. fmt(d.low), '+inf', 'LIMIT', 0, #d.acked + 1)
    local j, k = 1, 1
    while d.low < last do
      local h = held[j]
      if not h then d.low = last; break end -- nothing held above: all gone
      h = tonumber(h)
      if h == d.low + 1 then
        if d.acked[k] ~= h then break end -- held and not acknowledged: the hole
        d.low, j, k = h, j + 1, k + 1
      else
        d.low = h - 1 -- the seqs below h are gone
      end
    end
  end
  local rest = {}
  for _, a in ipairs(d.acked) do if a > d.low then rest[#rest + 1] = a end end
  d.acked = rest
end

-- keep sets the store-side TTL of every key of the stream: a safety net
-- only, never shorter than the logical life (the newest expiry, or the
-- device TTL after this touch), plus slack for clocks that disagree.
local function keep(now, ttl, slack)
  local life = ttl
  local top = redis.call('ZRANGE', x, -1, -1, 'WITHSCORES')
  if top[2] then life = math.max(life, tonumber(top[2]) - now) end
  life = fmt(life + slack)
  for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, life) end
end
