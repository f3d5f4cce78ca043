"""Replaying fixtures/laravel13: load what Laravel 13.26.1 stored, run our worker, dump the result.

The captures were taken at a fixed moment; timestamps are shifted to now (delayed jobs due,
TTLs and expirations kept relative) and the capture's prefixes (`laravel-database-`,
`laravel-cache-`) are mapped to the test's own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures" / "laravel13"
CAPTURE_REDIS_PREFIX = "laravel-database-"
CAPTURE_CACHE_PREFIX = "laravel-cache-"

# Job class -> the trace tag Laravel's handler logged (trace.log), from the command's properties.
TAGS = {
    "App\\Jobs\\PingJob": lambda c: c["tag"],
    "App\\Jobs\\AttributedJob": lambda c: c["tag"],
    "App\\Jobs\\PropertyJob": lambda c: c["tag"],
    "App\\Jobs\\UniquePingJob": lambda c: f"unique:{c['key']}",
    "App\\Jobs\\DebouncedPingJob": lambda c: f"debounced:{c['key']}:{c['n']}",
}


def fixture(driver: str, case: str) -> Any:
    return json.loads((FIXTURES / driver / f"{case}.json").read_text(encoding="utf-8"))


def traced_tags(connection: str) -> list[str]:
    """The tags Laravel 13's own worker handled, in order, for one connection."""
    lines = (FIXTURES / "trace.log").read_text(encoding="utf-8").splitlines()
    return [entry["tag"] for entry in map(json.loads, lines) if entry["connection"] == connection]


# -- database -----------------------------------------------------------------------------------


def database_capture_time(state: dict[str, Any]) -> int:
    return min(int(row["created_at"]) for row in state["jobs"])


def load_database_state(db: Any, state: dict[str, Any], shift: int) -> None:
    """Insert the capture's jobs, cache and cache_locks rows, times moved by `shift` seconds."""
    q = db.quote_identifier
    for row in state["jobs"]:
        reserved = None if row["reserved_at"] is None else int(row["reserved_at"]) + shift
        db.execute(
            f"insert into {db.table('jobs')} ({q('queue')}, {q('payload')}, {q('attempts')}, {q('reserved_at')},"
            f" {q('available_at')}, {q('created_at')}) values (?, ?, ?, ?, ?, ?)",
            (row["queue"], row["payload"], row["attempts"], reserved, min(int(row["available_at"]) + shift,
             int(time.time())), int(row["created_at"]) + shift),
        )
    for row in state["cache"]:
        db.execute(
            f"insert into {db.table('cache')} ({q('key')}, {q('value')}, {q('expiration')}) values (?, ?, ?)",
            (row["key"], row["value"], int(row["expiration"]) + shift),
        )
    for row in state["cache_locks"]:
        db.execute(
            f"insert into {db.table('cache_locks')} ({q('key')}, {q('owner')}, {q('expiration')}) values (?, ?, ?)",
            (row["key"], row["owner"], int(row["expiration"]) + shift),
        )


def database_state(db: Any) -> dict[str, Any]:
    """The rows a capture compares: jobs (payload), cache (key, value), locks (key, owner), failed count."""
    q = db.quote_identifier
    return {
        "jobs": [r["payload"] for r in db.fetch_all(f"select * from {db.table('jobs')} order by {q('id')}")],
        "cache": sorted((r["key"], r["value"]) for r in db.fetch_all(f"select * from {db.table('cache')}")),
        "cache_locks": sorted((r["key"], r["owner"]) for r in db.fetch_all(f"select * from {db.table('cache_locks')}")),
        "failed_jobs": len(db.fetch_all(f"select * from {db.table('failed_jobs')}")),
    }


def expected_database_state(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "jobs": [row["payload"] for row in state["jobs"]],
        "cache": sorted((r["key"], r["value"]) for r in state["cache"]),
        "cache_locks": sorted((r["key"], r["owner"]) for r in state["cache_locks"]),
        "failed_jobs": len(state["failed_jobs"]),
    }


# -- Redis --------------------------------------------------------------------------------------


class RedisReplay:
    """The capture's keys on the test's prefixes, in db 0 (queues, locks) and db 1 (cache)."""

    def __init__(self, host: str, port: int, redis_prefix: str, cache_prefix: str) -> None:
        self.clients = {db: redis.Redis(host=host, port=port, db=db) for db in (0, 1)}
        self.redis_prefix = redis_prefix
        self.cache_prefix = cache_prefix

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def physical(self, captured: str) -> tuple[int, str]:
        db, _, name = captured.partition(":")
        assert name.startswith(CAPTURE_REDIS_PREFIX), captured
        name = self.redis_prefix + name[len(CAPTURE_REDIS_PREFIX) :]
        rest = name[len(self.redis_prefix) :]
        if rest.startswith(CAPTURE_CACHE_PREFIX):
            name = self.redis_prefix + self.cache_prefix + rest[len(CAPTURE_CACHE_PREFIX) :]
        return int(db[2:]), name

    def captured(self, db: int, physical: str) -> str:
        rest = physical[len(self.redis_prefix) :]
        if rest.startswith(self.cache_prefix):
            rest = CAPTURE_CACHE_PREFIX + rest[len(self.cache_prefix) :]
        return f"db{db}:{CAPTURE_REDIS_PREFIX}{rest}"

    def load(self, state: dict[str, Any]) -> None:
        """Write every captured key; delayed jobs become due now, TTLs are kept."""
        now = int(time.time())
        for captured, entry in state.items():
            db, name = self.physical(captured)
            client = self.clients[db]
            kind, value = entry["type"], entry["value"]
            if kind == "list":
                client.rpush(name, *(v if isinstance(v, (int, str)) else php_json_encode(v) for v in value))
            elif kind == "zset":
                client.zadd(name, {php_json_encode(m["member"]): min(float(m["score"]), now) for m in value})
            elif kind == "string":
                client.set(name, value, px=entry["pttl_ms"] if entry["pttl_ms"] > 0 else None)
            else:  # pragma: no cover - the captures hold only these
                raise AssertionError(f"unexpected type {kind}")

    def dump(self) -> dict[str, Any]:
        """Every key under the test's prefix, as the capture names and decodes it (no TTLs)."""
        out: dict[str, Any] = {}
        for db, client in self.clients.items():
            for raw in client.scan_iter(match=f"{self.redis_prefix}*", count=1000):
                name = raw.decode()
                kind = client.type(raw).decode()
                if kind == "string":
                    value: Any = client.get(raw).decode()
                elif kind == "list":
                    value = [_decoded(v) for v in client.lrange(raw, 0, -1)]
                elif kind == "zset":
                    value = [_decoded(m) for m, _ in client.zrange(raw, 0, -1, withscores=True)]
                else:
                    value = kind
                out[self.captured(db, name)] = (kind, value)
        return out


def expected_redis_state(state: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, entry in state.items():
        value = entry["value"]
        if entry["type"] == "zset":
            value = [m["member"] for m in value]
        out[name] = (entry["type"], value)
    return out


def _decoded(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode()


@contextmanager
def redis13_connections(
    redis_env: dict[str, str], redis_server: tuple[str, int], version: str = "13.26"
) -> Iterator[tuple[Connections, RedisReplay]]:
    """Connections with Laravel 13's rules on the test's Redis, and a replay over its prefixes;
    every key under the prefix is deleted afterwards."""
    conns = Connections(load_settings(environ={**redis_env, "LARAVEL_VERSION": version, "QUEUE_FAILED_DRIVER": "null"}))
    replay = RedisReplay(redis_server[0], redis_server[1], redis_env["REDIS_PREFIX"], redis_env["CACHE_PREFIX"])
    try:
        yield conns, replay
    finally:
        for client in replay.clients.values():
            keys = list(client.scan_iter(match=f"{replay.redis_prefix}*"))
            if keys:
                client.delete(*keys)
        replay.close()
        conns.close()
