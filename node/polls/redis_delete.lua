-- Delete: KEYS tasks, lease, result; ARGV name. Returns 1 when it existed.
local n = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return n
