"""The pipeline itself: Laravel's order, short-circuits, exceptions, sync and async middleware."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from laravel_queue.middleware import AroundMiddleware, Next, asend_through, send_through
from laravel_queue.middleware.base import Around
from laravel_queue.middleware.serialized import resolve_middleware
from laravel_queue.php import PhpObject


class Tag:
    """A user middleware (plain callable) that records entry and exit."""

    def __init__(self, name: str, seen: list[str]) -> None:
        self.name, self.seen = name, seen

    def __call__(self, job: Any, command: Any, next: Next) -> Any:
        self.seen.append(f"{self.name}>")
        result = next(job, command)
        self.seen.append(f"<{self.name}")
        return result


class AsyncTag(Tag):
    async def __call__(self, job: Any, command: Any, next: Next) -> Any:  # type: ignore[override]
        self.seen.append(f"{self.name}>")
        result = await next(job, command)
        self.seen.append(f"<{self.name}")
        return result


class Guard(AroundMiddleware):
    """Around-style: stops when told to, sees the inner exception."""

    def __init__(self, seen: list[str], stop: bool = False) -> None:
        self.seen, self.stop = seen, stop

    def around(self, job: Any, command: Any) -> Around:
        if self.stop:
            self.seen.append("stopped")
            return "stopped"
        try:
            result = yield
        except ValueError as exc:
            self.seen.append(f"caught {exc}")
            return "recovered"
        self.seen.append(f"after {result}")
        return result


def test_sync_pipeline_runs_in_order_and_returns_the_handler_result() -> None:
    seen: list[str] = []
    result = send_through(None, "cmd", [Tag("a", seen), Guard(seen), Tag("b", seen)], lambda j, c: seen.append(c) or 7)
    assert result == 7
    assert seen == ["a>", "b>", "cmd", "<b", "after 7", "<a"]


def test_a_middleware_that_does_not_call_next_ends_the_pipeline() -> None:
    seen: list[str] = []
    result = send_through(None, "cmd", [Guard(seen, stop=True), Tag("b", seen)], lambda j, c: seen.append("handler"))
    assert result == "stopped" and seen == ["stopped"]


def test_exceptions_reach_around_middleware_and_propagate_otherwise() -> None:
    seen: list[str] = []

    def boom(job: Any, command: Any) -> None:
        raise ValueError("bad")

    assert send_through(None, None, [Guard(seen)], boom) == "recovered"
    with pytest.raises(ValueError):
        send_through(None, None, [Tag("a", seen)], boom)


def test_async_pipeline_mixes_sync_async_and_around_middleware() -> None:
    seen: list[str] = []

    async def handler(job: Any, command: Any) -> str:
        await asyncio.sleep(0)
        seen.append("handler")
        return "done"

    middleware = [AsyncTag("a", seen), Guard(seen), Tag("pass", seen)]
    assert asyncio.run(asend_through(None, None, middleware, handler)) == "done"
    assert seen[:4] == ["a>", "pass>", "<pass", "handler"]  # a sync middleware hands the awaitable on
    assert seen[4:] == ["after done", "<a"]


def test_async_around_middleware_sees_the_awaited_exception() -> None:
    seen: list[str] = []

    async def handler(job: Any, command: Any) -> None:
        raise ValueError("late")

    assert asyncio.run(asend_through(None, None, [Guard(seen)], handler)) == "recovered"
    assert seen == ["caught late"]


def test_declared_middleware_run_before_serialized_ones_and_unknown_ones_are_named() -> None:
    declared = Tag("declared", [])
    command = PhpObject(
        "App\\Jobs\\X",
        {
            "middleware": [
                PhpObject("Illuminate\\Queue\\Middleware\\SkipIfBatchCancelled", {}),
                PhpObject("App\\Http\\Middleware\\Custom", {}),
                PhpObject(
                    "Illuminate\\Queue\\Middleware\\ThrottlesExceptions",
                    {"\0*\0whenCallback": PhpObject("Laravel\\SerializableClosure\\SerializableClosure", {})},
                ),
            ]
        },
    )
    runnable, unsupported = resolve_middleware(command, [declared])
    assert runnable[0] is declared and type(runnable[1]).__name__ == "SkipIfBatchCancelled"
    assert unsupported[0] == "App\\Http\\Middleware\\Custom"
    assert unsupported[1].startswith("Illuminate\\Queue\\Middleware\\ThrottlesExceptions (its whenCallback")


def test_serialized_settings_are_read() -> None:
    overlap = PhpObject(
        "Illuminate\\Queue\\Middleware\\WithoutOverlapping",
        {"key": "42", "releaseAfter": None, "expiresAfter": 180, "prefix": "p:", "shareKey": True},
    )
    throttle = PhpObject(
        "Illuminate\\Queue\\Middleware\\ThrottlesExceptionsWithRedis",
        {
            "\0*\0key": "svc",
            "\0*\0byJob": False,
            "\0*\0maxAttempts": 3,
            "\0*\0decaySeconds": 120,
            "\0*\0retryAfterMinutes": 2,
            "\0*\0prefix": "laravel_throttles_exceptions:",
            "\0*\0deleteWhenCallbacks": [],
        },
    )
    (without, throttles), unsupported = resolve_middleware(PhpObject("X", {"middleware": [overlap, throttle]}), [])
    assert unsupported == []
    assert (without.key, without.release_after_seconds, without.expires_after, without.share_key) == (
        "42",
        None,
        180,
        True,
    )
    assert without.prefix == "p:"
    assert (throttles.max_attempts, throttles.decay_seconds, throttles.retry_after_minutes, throttles.key) == (
        3,
        120,
        2,
        "svc",
    )


def test_middleware_serialized_by_php_are_read_with_their_settings(php: str) -> None:
    import subprocess

    from conftest import ROOT

    from laravel_queue.middleware import Limit, default_limiters
    from laravel_queue.php import loads

    default_limiters.register("backups", lambda job, command: Limit.per_minute(5))
    out = subprocess.run([php, str(ROOT / "php-fixtures" / "middleware_payload.php")], capture_output=True, check=True)
    command = loads(out.stdout)
    (limited, redis_limited, overlap, throttle, redis_throttle, skip, batch), unsupported = resolve_middleware(
        command, []
    )
    assert unsupported == []
    assert (type(limited).__name__, limited.limiter_name, limited.should_release) == ("RateLimited", "backups", False)
    assert (redis_limited.connection_name, redis_limited.should_release) == ("limits", True)
    assert (overlap.key, overlap.release_after_seconds, overlap.expires_after, overlap.share_key) == (
        "import-7",
        None,
        180,
        True,
    )
    assert (throttle.max_attempts, throttle.decay_seconds, throttle.retry_after_minutes, throttle.key) == (
        3,
        120,
        2,
        "svc",
    )
    assert type(redis_throttle).__name__ == "ThrottlesExceptionsWithRedis" and redis_throttle.decay_seconds == 600
    assert skip.skip is True and type(batch).__name__ == "SkipIfBatchCancelled"
