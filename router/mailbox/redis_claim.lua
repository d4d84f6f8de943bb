-- Claim: KEYS[1] the claim key; ARGV now, ttl ms, slack ms, id.
-- The value is "expires:id"; expiry is judged by the caller's clock, the
-- key's PEXPIRE is only the safety net.
local now, ttl, slack, id = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, ':', 1, true)
  if now < tonumber(string.sub(cur, 1, sep - 1)) then return string.sub(cur, sep + 1) end
end
redis.call('SET', KEYS[1], string.format('%.0f', now + ttl) .. ':' .. id, 'PX', string.format('%.0f', ttl + slack))
return id
