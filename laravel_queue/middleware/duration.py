"""Laravel's Redis DurationLimiter: a fixed window per key in one Redis hash, shared with PHP.

The hash at `<redis prefix><key>` has fields `start`, `end` (Unix seconds) and `count`;
a new window sets count 1 and an EXPIRE of twice the decay. As in PHP, the window test
compares the microtime argument with `start`/`end` as Lua strings, and the scripts return
the same triples, so PHP and Python workers acquire slots from one window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from laravel_queue.support import php_float_to_string

# KEYS[1] limiter key; ARGV: microtime, Unix seconds, decay seconds, allowed per window.
_ACQUIRE = """
local key, micro, now, decay, allowed = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function new_window()
    redis.call('HMSET', key, 'start', now, 'end', now + decay, 'count', 1)
    return redis.call('EXPIRE', key, decay * 2)
end
if redis.call('EXISTS', key) == 0 then
    return {new_window(), now + decay, allowed - 1}
end
if micro >= redis.call('HGET', key, 'start') and micro <= redis.call('HGET', key, 'end') then
    local count = tonumber(redis.call('HINCRBY', key, 'count', 1))
    return {count <= tonumber(allowed), redis.call('HGET', key, 'end'), allowed - count}
end
return {new_window(), now + decay, allowed - 1}
"""

_TOO_MANY = """
local key, micro, now, decay, allowed = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', key) == 0 then
    return {0, now + decay}
end
if micro >= redis.call('HGET', key, 'start') and micro <= redis.call('HGET', key, 'end') then
    return {redis.call('HGET', key, 'end'), allowed - redis.call('HGET', key, 'count')}
end
return {0, now + decay}
"""


class DurationLimiter:
    """Illuminate\\Redis\\Limiters\\DurationLimiter: `max_locks` acquisitions per `decay` seconds."""

    def __init__(
        self, client: Any, key: str, max_locks: int, decay: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self.key = key
        self.max_locks = int(max_locks)
        self.decay = int(decay)
        self.clock = clock
        self.decays_at = 0
        self.remaining = 0

    def _args(self) -> list[Any]:
        now = self.clock()
        # PHP sends microtime(true) as PHP prints a float; the script compares it as a string
        return [php_float_to_string(now), int(now), self.decay, self.max_locks]

    def _run(self, script: str, *args: Any) -> Any:
        """EVALSHA (EVAL once per connection when Redis lacks the script): PHP sends EVAL every time."""
        return self.client.register_script(script)(keys=[self.key], args=list(args))

    def acquire(self) -> bool:
        acquired, decays_at, remaining = self._run(_ACQUIRE, *self._args())
        self.decays_at = int(decays_at)
        self.remaining = max(0, int(remaining))
        return bool(acquired)

    def too_many_attempts(self) -> bool:
        decays_at, remaining = self._run(_TOO_MANY, *self._args())
        self.decays_at = int(decays_at)
        self.remaining = int(remaining)
        return self.remaining <= 0

    def available_in(self) -> int:
        """Seconds until the window of the last call ends."""
        return self.decays_at - int(self.clock())

    def clear(self) -> None:
        self.client.delete(self.key)
