"""Laravel job middleware for Python handlers, sharing keys, counters and locks with PHP.

```python
@rate_limiter("backups")                 # RateLimiter::for('backups', ...)
def backups(job, command):
    return Limit.per_minute(10).by(command.user.id)

@handles("App\\\\Jobs\\\\Backup", middleware=[RateLimited("backups").dont_release(),
                                          WithoutOverlapping("backup").release_after(60).expire_after(180)])
def backup(job, command): ...
```

A middleware is `mw(job, command, next)` (sync or async); see `laravel_queue.middleware.base`.
"""

from __future__ import annotations

from laravel_queue.middleware.base import AroundMiddleware, Next
from laravel_queue.middleware.duration import DurationLimiter
from laravel_queue.middleware.limiter import Limit, Limiters, RateLimiter, Unlimited, default_limiters, rate_limiter
from laravel_queue.middleware.overlapping import WithoutOverlapping, overlap_key, without_overlapping
from laravel_queue.middleware.pipeline import asend_through, send_through
from laravel_queue.middleware.rate_limited import RateLimited, RateLimitedWithRedis
from laravel_queue.middleware.serialized import resolve_middleware
from laravel_queue.middleware.skip import Skip, SkipIfBatchCancelled
from laravel_queue.middleware.throttles import ThrottlesExceptions, ThrottlesExceptionsWithRedis

__all__ = [
    "AroundMiddleware",
    "DurationLimiter",
    "Limit",
    "Limiters",
    "Next",
    "RateLimited",
    "RateLimitedWithRedis",
    "RateLimiter",
    "Skip",
    "SkipIfBatchCancelled",
    "ThrottlesExceptions",
    "ThrottlesExceptionsWithRedis",
    "Unlimited",
    "WithoutOverlapping",
    "asend_through",
    "default_limiters",
    "overlap_key",
    "rate_limiter",
    "resolve_middleware",
    "send_through",
    "without_overlapping",
]
