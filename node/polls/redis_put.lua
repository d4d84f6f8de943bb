-- Put: KEYS tasks, result; ARGV name, task JSON.
-- A replacement that changes the task forgets its last result (the changed
-- task pushes its next answer); the lease stays with its holder.
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if old and old ~= ARGV[2] then redis.call('HDEL', KEYS[2], ARGV[1]) end
if old then return 0 end
return 1
