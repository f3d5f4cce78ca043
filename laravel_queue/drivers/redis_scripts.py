"""Lua scripts of the Redis queue driver, with Laravel's KEYS/ARGV shapes and effects.

`PUSH`, `LATER`, `RELEASE`, `SIZE` and `CLEAR` do exactly what Laravel's scripts of the
same name do (spec §5.2). `POP` is one script for what Laravel sends as up to four
calls per job, in Laravel's order: the previous job's ZREM (the deferred ack), the
`:delayed` migration, the `:reserved` migration, then the pop. Running them in one
atomic script changes the number of round trips, not the data: every command inside
is the command Laravel's scripts run, with the same arguments.

The one deliberate difference from Laravel's pop: a payload that is not a JSON object
(or has no numeric `attempts`) is kept, reserved as-is, instead of being LPOPped and
lost when the script errors (fixture redis-monitor/18).
"""

from __future__ import annotations

# KEYS: queues:Q, queues:Q:notify   ARGV: payload
PUSH = """
redis.call('rpush', KEYS[1], ARGV[1])
redis.call('rpush', KEYS[2], 1)
"""

# KEYS: queues:Q:delayed   ARGV: available-at second, payload
LATER = """
redis.call('zadd', KEYS[1], ARGV[1], ARGV[2])
"""

# KEYS: queues:Q:delayed, queues:Q:reserved   ARGV: reserved copy (exact bytes), available-at second
RELEASE = """
redis.call('zrem', KEYS[2], ARGV[1])
redis.call('zadd', KEYS[1], ARGV[2], ARGV[1])
return true
"""

# Not Laravel's: `--unknown=release` hands a job back to PHP workers untouched.
# The original element (attempts not incremented) goes to the tail of the ready list
# with a notify token, and the reservation is dropped, in one atomic step.
# KEYS: queues:Q, queues:Q:reserved, queues:Q:notify; ARGV: original element, reserved copy
GIVE_BACK = """
redis.call('zrem', KEYS[2], ARGV[2])
redis.call('rpush', KEYS[1], ARGV[1])
redis.call('rpush', KEYS[3], 1)
return true
"""

# KEYS: queues:Q, queues:Q:delayed, queues:Q:reserved
SIZE = """
return redis.call('llen', KEYS[1]) + redis.call('zcard', KEYS[2]) + redis.call('zcard', KEYS[3])
"""

# KEYS: queues:Q, queues:Q:delayed, queues:Q:reserved, queues:Q:notify
CLEAR = """
local size = redis.call('llen', KEYS[1]) + redis.call('zcard', KEYS[2]) + redis.call('zcard', KEYS[3])
redis.call('del', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return size
"""

# KEYS: queues:Q, queues:Q:reserved, queues:Q:notify, queues:Q:delayed [, ack's reserved zset]
# ARGV: reservation expiry, now, migration limit, migrate mode [, ack's reserved copy]
#   migrate mode: '2' = :delayed and :reserved, '1' = :delayed only (retry_after null),
#                 '0' = none (Laravel's second pop after a successful BLPOP)
# Returns {original payload | false, reserved copy | false, attempts | false}.
POP = """
local function migrate(from, to, notify, now, limit)
    local val = redis.call('zrangebyscore', from, '-inf', now, 'limit', 0, limit)
    if next(val) ~= nil then
        redis.call('zremrangebyrank', from, 0, #val - 1)
        for i = 1, #val, 100 do
            redis.call('rpush', to, unpack(val, i, math.min(i + 99, #val)))
            for j = i, math.min(i + 99, #val) do
                redis.call('rpush', notify, 1)
            end
        end
    end
end

if #KEYS == 5 then
    redis.call('zrem', KEYS[5], ARGV[5])
end

if ARGV[4] ~= '0' then
    migrate(KEYS[4], KEYS[1], KEYS[3], ARGV[2], ARGV[3])
    if ARGV[4] == '2' then
        migrate(KEYS[2], KEYS[1], KEYS[3], ARGV[2], ARGV[3])
    end
end

local job = redis.call('lpop', KEYS[1])
local reserved = false
local attempts = false

if job ~= false then
    local decoded_ok, decoded = pcall(cjson.decode, job)
    if decoded_ok and type(decoded) == 'table' then
        attempts = (tonumber(decoded['attempts']) or 0) + 1
        decoded['attempts'] = attempts
        local encoded_ok, encoded = pcall(cjson.encode, decoded)
        reserved = encoded_ok and encoded or job
    else
        attempts = 1
        reserved = job
    end
    redis.call('zadd', KEYS[2], ARGV[1], reserved)
    redis.call('lpop', KEYS[3])
end

return {job, reserved, attempts}
"""
