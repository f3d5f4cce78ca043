"""The boundary where a client library's "cannot reach the server" becomes a user-facing error.

Dispatch and the admin commands run their driver calls inside `service_errors()`, so Redis
being down reaches the CLI as a `ServiceConnectionError` (one line and a hint) instead of a
redis-py traceback. Database errors are translated where they happen (`laravel_queue.db`:
`LostConnectionError`, `MissingTableError`), SQS and DynamoDB errors by their drivers. The
worker's per-job loop does not use this: it has its own outage handling.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from laravel_queue.errors import ServiceConnectionError


class RedisUnavailableError(ServiceConnectionError, ConnectionError):
    """Redis cannot be reached (refused, timed out, wrong host or TLS settings)."""

    hint = "check REDIS_HOST / REDIS_PORT (or REDIS_URL) and that Redis is running"


def redis_unavailable(exc: BaseException) -> RedisUnavailableError | None:
    """`exc` as a `RedisUnavailableError` when it is redis-py's connection or timeout error.

    redis-py is not imported for this (it pulls in asyncio, ssl and more, ~90 ms at every
    start): an exception can only be one of its classes once it has been imported."""
    redis_errors = sys.modules.get("redis.exceptions")
    if redis_errors is not None and isinstance(exc, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
        return RedisUnavailableError(f"cannot reach Redis: {exc}")
    return None


@contextmanager
def service_errors() -> Iterator[None]:
    """Re-raise a Redis connection failure inside the block as `RedisUnavailableError`."""
    try:
        yield
    except Exception as exc:
        error = redis_unavailable(exc)
        if error is not None:
            raise error from exc
        raise
