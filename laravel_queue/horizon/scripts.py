"""The Lua scripts that make each job stage's Horizon writes in one round trip.

Each script reproduces the net effect of Horizon's listeners for one stage (spec
horizon.md §5): the job hash, the sorted sets, the monitored/failed tag lists, the
parent's `retried_by`, and the metric hashes `horizon:snapshot` reads. The metric
arithmetic is Horizon's `updateMetrics` step for step, so the stored doubles match
the ones PHP workers produce on the same hash.
"""

from __future__ import annotations

# Set the status of `id` in the parent's `retried_by` JSON list. The list is always
# PHP's compact json_encode of {id, status, retried_at} objects, so replacing the
# status string in place gives the bytes PHP's decode-set-encode gives.
_MARK_RETRY = """
local function mark_retry(parent, id, status)
  if parent == '' then return end
  local retries = redis.call('hget', parent, 'retried_by')
  if not retries then return end
  local _, stop = string.find(retries, '"id":"' .. id .. '","status":"', 1, true)
  if not stop then return end
  local close = string.find(retries, '"', stop + 1, true)
  if not close then return end
  redis.call('hset', parent, 'retried_by', string.sub(retries, 1, stop) .. status .. string.sub(retries, close))
end
"""

_UPDATE_METRICS = """
local function update_metrics(key, measured, runtime_ms)
  redis.call('hsetnx', key, 'throughput', 0)
  redis.call('sadd', measured, key)
  local hash = redis.call('hmget', key, 'throughput', 'runtime')
  local throughput = hash[1] + 1
  local runtime
  if hash[2] then
    runtime = ((hash[1] * tonumber(hash[2])) + tonumber(runtime_ms)) / throughput
  else
    runtime = tonumber(runtime_ms)
  end
  redis.call('hmset', key, 'throughput', throughput, 'runtime', runtime)
end
"""

# KEYS: job hash, recent_jobs, pending_jobs, monitoring
# ARGV: id, now, score, expire_at, connection, queue, name, payload, prefix, tags...
PUSHED = """
local id, now, score = ARGV[1], ARGV[2], ARGV[3]
redis.call('zadd', KEYS[2], score, id)
redis.call('zadd', KEYS[3], score, id)
redis.call('hmset', KEYS[1], 'id', id, 'connection', ARGV[5], 'queue', ARGV[6], 'name', ARGV[7],
  'status', 'pending', 'payload', ARGV[8], 'created_at', now, 'updated_at', now)
redis.call('expireat', KEYS[1], ARGV[4])
for i = 10, #ARGV do
  if redis.call('sismember', KEYS[4], ARGV[i]) == 1 then
    redis.call('zadd', ARGV[9] .. ARGV[i], now, id)
  end
end
"""

# KEYS: job hash, completed_jobs|silenced_jobs, pending_jobs, monitored_jobs, monitoring,
#       queue metrics, measured_queues, job metrics, measured_jobs, retry parent ('' if none)
# ARGV: id, now, score, expire_at completed, expire_at monitored, runtime_ms,
#       connection, queue, name, payload, tags...
COMPLETED = _MARK_RETRY + _UPDATE_METRICS + """
local id, now, score = ARGV[1], ARGV[2], ARGV[3]
mark_retry(KEYS[10], id, 'completed')
redis.call('zadd', KEYS[2], score, id)
redis.call('zrem', KEYS[3], id)
redis.call('hmset', KEYS[1], 'status', 'completed', 'completed_at', now)
redis.call('expireat', KEYS[1], ARGV[4])
for i = 11, #ARGV do
  if redis.call('sismember', KEYS[5], ARGV[i]) == 1 then
    redis.call('zadd', KEYS[4], score, id)
    redis.call('hmset', KEYS[1], 'id', id, 'connection', ARGV[7], 'queue', ARGV[8], 'name', ARGV[9],
      'status', 'completed', 'payload', ARGV[10], 'completed_at', now)
    redis.call('expireat', KEYS[1], ARGV[5])
    break
  end
end
update_metrics(KEYS[6], KEYS[7], ARGV[6])
update_metrics(KEYS[8], KEYS[9], ARGV[6])
"""

# Laravel fails a job by deleting it (Horizon: "completed while failed", which leaves
# completed_at and no metrics) and then firing JobFailed (the failed record).
# KEYS: job hash, completed_jobs, silenced_jobs, pending_jobs, failed_jobs, recent_failed_jobs,
#       retry parent ('' if none)
# ARGV: id, now, score, expire_at failed, connection, queue, name, payload, exception, context,
#       failed-tag ttl seconds, failed-tag key prefix, tags...
FAILED = _MARK_RETRY + """
local id, now, score = ARGV[1], ARGV[2], ARGV[3]
mark_retry(KEYS[7], id, 'failed')
redis.call('hmset', KEYS[1], 'status', 'completed', 'completed_at', now)
redis.call('zadd', KEYS[5], score, id)
redis.call('zadd', KEYS[6], score, id)
redis.call('zrem', KEYS[4], id)
redis.call('zrem', KEYS[2], id)
redis.call('zrem', KEYS[3], id)
redis.call('hmset', KEYS[1], 'id', id, 'connection', ARGV[5], 'queue', ARGV[6], 'name', ARGV[7],
  'status', 'failed', 'payload', ARGV[8], 'exception', ARGV[9], 'context', ARGV[10], 'failed_at', now)
redis.call('expireat', KEYS[1], ARGV[4])
for i = 13, #ARGV do
  redis.call('zadd', ARGV[12] .. ARGV[i], now, id)
  redis.call('expire', ARGV[12] .. ARGV[i], ARGV[11])
end
"""
