"""No-op jobs behind job middleware, for benchmarks/bench_middleware.py (`--jobs benchmarks.middleware_jobs`)."""

from __future__ import annotations

from typing import Any

from laravel_queue import handles
from laravel_queue.middleware import Limit, RateLimited, RateLimitedWithRedis, rate_limiter

LIMITED = "App\\Jobs\\LimitedNoopJob"
REDIS_LIMITED = "App\\Jobs\\RedisLimitedNoopJob"
OVER_LIMIT = "App\\Jobs\\OverLimitNoopJob"


@rate_limiter("bench")
def never_reached(job: Any, command: Any) -> Limit:
    return Limit.per_minute(1_000_000_000)


@rate_limiter("bench-over")
def one_per_minute(job: Any, command: Any) -> Limit:
    return Limit.per_minute(1)


def read_n(job: Any, command: Any) -> None:
    """Does nothing but read `n`, like benchmarks.noop_jobs."""
    if not isinstance(command.n, int):
        raise TypeError("n should be an int")


handles(LIMITED, middleware=(RateLimited("bench"),))(read_n)
handles(REDIS_LIMITED, middleware=(RateLimitedWithRedis("bench"),))(read_n)
handles(OVER_LIMIT, middleware=(RateLimited("bench-over").dont_release(),))(read_n)
