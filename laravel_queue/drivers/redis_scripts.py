"""Lua scripts of the Redis queue driver, with Laravel's KEYS/ARGV shapes and effects.

`PUSH`, `LATER`, `RELEASE`, `SIZE` and `CLEAR` do exactly what Laravel's scripts of the
same name do (spec §5.2). `POP` is one script for what Laravel sends as up to four
calls per job, in Laravel's order: the previous job's ZREM (the deferred ack), the
`:delayed` migration, the `:reserved` migration, then the pop. Running them in one
atomic script changes the number of round trips, not the data: every command inside
is the command Laravel's scripts run, with the same arguments. `POP_WITH_CONTROL` adds
the worker's two cache GETs (restart, pause) in front of the pop, on the cache's database.

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

# The pieces both pop scripts share: KEYS[1..4] = queues:Q, queues:Q:reserved,
# queues:Q:notify, queues:Q:delayed; ARGV[1..4] = reservation expiry, now, migration
# limit, migrate mode ('2' = :delayed and :reserved, '1' = :delayed only (retry_after
# null), '0' = none: Laravel's second pop after a successful BLPOP).
_MIGRATE_FUNCTION = """
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
"""

_MIGRATE_AND_RESERVE = """
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
"""

# KEYS: queues:Q, queues:Q:reserved, queues:Q:notify, queues:Q:delayed [, ack's reserved zset]
# ARGV: reservation expiry, now, migration limit, migrate mode [, ack's reserved copy]
# Returns {original payload | false, reserved copy | false, attempts | false}.
POP = (
    _MIGRATE_FUNCTION
    + """
if #KEYS == 5 then
    redis.call('zrem', KEYS[5], ARGV[5])
end
"""
    + _MIGRATE_AND_RESERVE
    + """
return {job, reserved, attempts}
"""
)

# Not Laravel's: the worker's per-iteration cache reads (`illuminate:queue:restart` and
# the queue's `illuminate:queue:paused:<connection>:<queue>`, with Laravel 13 also the
# global `illuminate:queues:paused`) done inside the pop, for a
# cache store on another database of the same server. Redis >= 7.0 only: from 7.0 a
# SELECT inside a script no longer changes the calling connection's database.
# Order as a PHP worker's: the previous job's ZREM, the restart read, the pause read,
# and only then (restart unchanged, queue not paused) the migrations and the pop.
# KEYS: queues:Q, queues:Q:reserved, queues:Q:notify, queues:Q:delayed,
#       restart key, paused key [, global paused key] (physical names on the cache db)
#       [, ack's reserved zset]
# ARGV: reservation expiry, now, migration limit, migrate mode, cache db, queue db,
#       restart expectation ('0' = absent, '1' = the value in ARGV[8]), expected value,
#       number of paused keys (1 or 2) [, ack's reserved copy]
# Returns {0, payload | false, reserved copy | false, attempts | false} when it popped (or
# found nothing): the restart value was the expected one and the queue not paused; else
# {1 | 2, false, false, false, restart value | false, paused value | false}, 1 = the restart
# value is not the expected one, 2 = a paused key holds a value (the first that does is
# returned); nothing was popped.
POP_WITH_CONTROL = (
    _MIGRATE_FUNCTION
    + """
local last_paused = 5 + tonumber(ARGV[9])
if #KEYS == last_paused + 1 then
    redis.call('zrem', KEYS[last_paused + 1], ARGV[10])
end

local other_db = ARGV[5] ~= ARGV[6]
if other_db then
    redis.call('select', ARGV[5])
end
local restart = redis.call('get', KEYS[5])
local paused = false
for i = 6, last_paused do
    if paused == false then
        paused = redis.call('get', KEYS[i])
    end
end
if other_db then
    redis.call('select', ARGV[6])
end

local expected = false
if ARGV[7] == '1' then
    expected = ARGV[8]
end
if restart ~= expected then
    return {1, false, false, false, restart, paused}
end
if paused ~= false then
    return {2, false, false, false, restart, paused}
end
"""
    + _MIGRATE_AND_RESERVE
    + """
return {0, job, reserved, attempts}
"""
)
