"""Laravel middleware found serialized in a payload (`dispatch($job)->through([...])`, the `middleware` property).

Known classes become their Python twins with the serialized settings; anything else is
reported back by name so the worker routes the job by `--unknown` (fail naming the class,
or give it back for PHP workers) instead of running it without its middleware.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from laravel_queue.errors import PayloadError
from laravel_queue.middleware.overlapping import WITHOUT_OVERLAPPING, WithoutOverlapping
from laravel_queue.middleware.rate_limited import (
    RATE_LIMITED,
    RATE_LIMITED_WITH_REDIS,
    RateLimited,
    RateLimitedWithRedis,
)
from laravel_queue.middleware.skip import SKIP, SKIP_IF_BATCH_CANCELLED, Skip, SkipIfBatchCancelled
from laravel_queue.middleware.throttles import (
    THROTTLES_EXCEPTIONS,
    THROTTLES_EXCEPTIONS_WITH_REDIS,
    ThrottlesExceptions,
    ThrottlesExceptionsWithRedis,
)
from laravel_queue.php import PhpObject


class Unsupported(PayloadError, ValueError):
    """A serialized middleware whose settings Python cannot honour (e.g. a PHP closure)."""


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Unsupported(f"{what} is {type(value).__name__}")
    return int(value)


def _rate_limited(obj: PhpObject) -> RateLimited:
    name = str(obj.get("limiterName") or "")
    middleware = (
        RateLimitedWithRedis(name, obj.get("connectionName"))
        if obj.class_name == RATE_LIMITED_WITH_REDIS
        else RateLimited(name)
    )
    if obj.get("shouldRelease", True) is False:
        middleware.dont_release()
    return middleware


def _without_overlapping(obj: PhpObject) -> WithoutOverlapping:
    release_after = obj.get("releaseAfter", 0)
    middleware = WithoutOverlapping(
        obj.get("key", ""),
        None if release_after is None else _int(release_after, "releaseAfter"),
        _int(obj.get("expiresAfter", 0) or 0, "expiresAfter"),
    ).with_prefix(str(obj.get("prefix", "laravel-queue-overlap:")))
    if obj.get("shareKey"):
        middleware.shared()
    return middleware


def _throttles(obj: PhpObject) -> ThrottlesExceptions:
    for callback in ("whenCallback", "reportCallback", "deleteWhenCallbacks", "failWhenCallbacks"):
        value = obj.get(callback)
        if value is not None and not (isinstance(value, (list, dict)) and not value):
            raise Unsupported(f"its {callback} is a PHP closure")
    decay = obj.get("decaySeconds")
    if decay is not None:
        decay_seconds = _int(decay, "decaySeconds")
    else:  # Laravel 10 and older counted minutes
        decay_seconds = 60 * _int(obj.get("decayMinutes", 10), "decayMinutes")
    cls = ThrottlesExceptionsWithRedis if obj.class_name == THROTTLES_EXCEPTIONS_WITH_REDIS else ThrottlesExceptions
    middleware = cls(_int(obj.get("maxAttempts", 10), "maxAttempts"), decay_seconds)
    middleware.backoff(_int(obj.get("retryAfterMinutes", 0) or 0, "retryAfterMinutes"))
    middleware.with_prefix(str(obj.get("prefix", middleware.prefix)))
    if obj.get("key"):
        middleware.by(str(obj.get("key")))
    if obj.get("byJob"):
        middleware.by_job()
    return middleware


FROM_PHP: dict[str, Callable[[PhpObject], Any]] = {
    RATE_LIMITED: _rate_limited,
    RATE_LIMITED_WITH_REDIS: _rate_limited,
    WITHOUT_OVERLAPPING: _without_overlapping,
    THROTTLES_EXCEPTIONS: _throttles,
    THROTTLES_EXCEPTIONS_WITH_REDIS: _throttles,
    SKIP: lambda obj: Skip(bool(obj.get("skip", False))),
    SKIP_IF_BATCH_CANCELLED: lambda obj: SkipIfBatchCancelled(),
}
"""Laravel middleware classes a Python worker honours, and how to read their serialized settings."""


def serialized_middleware(command: Any) -> list[Any]:
    """The command's serialized `middleware` property, as a list (empty when absent)."""
    if not isinstance(command, PhpObject):
        return []
    found = command.get("middleware")
    if isinstance(found, dict):
        return list(found.values())
    return list(found) if isinstance(found, list) else []


def resolve_middleware(command: Any, declared: Sequence[Any]) -> tuple[list[Any], list[str]]:
    """Laravel's order (declared `middleware()`, then the serialized property) and the unsupported ones.

    Returns the runnable middleware and, for each one Python cannot honour, a description
    naming its PHP class.
    """
    serialized = serialized_middleware(command)
    if not declared and not serialized:
        return [], []  # the common case: nothing to build, nothing to check
    runnable: list[Any] = []
    unsupported: list[str] = []
    for item in declared:
        if callable(item) and not isinstance(item, PhpObject):
            runnable.append(item)
        else:
            unsupported.append(f"declared middleware {item!r} (not a middleware: use laravel_queue.middleware)")
    for item in serialized:
        if not isinstance(item, PhpObject):
            unsupported.append(f"{type(item).__name__} {item!r}")
            continue
        name = item.class_name if isinstance(item.class_name, str) else item.class_name.decode("utf-8", "replace")
        build = FROM_PHP.get(name)
        if build is None:
            unsupported.append(name)
            continue
        try:
            runnable.append(build(item))
        except Unsupported as exc:
            unsupported.append(f"{name} ({exc})")
    for item in runnable:
        if isinstance(item, RateLimited) and item.limiter_name not in item.limiters:
            unsupported.append(
                f"{item.php_class} (no Python limiter [{item.limiter_name}]: "
                f'register one with @rate_limiter("{item.limiter_name}"))'
            )
    return runnable, unsupported
