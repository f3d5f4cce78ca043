"""Interop with Laravel's own Redis queue: same data in, same Redis state out.

Each scenario replays a captured `redis-cli MONITOR` transcript of a real Laravel
12.67 worker/dispatcher (fixtures/laravel/redis-monitor) with Laravel's Lua scripts
(restated below from spec §5.2) under one key prefix, drives the Python driver through
the same operation on the same data under another prefix, and compares every key, list
order, zset member and score. A job also crosses between the Python driver and a
separate `redis-cli` process running Laravel's exact pop/push scripts, both ways.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, unavailable

from laravel_queue.drivers.redis import RedisQueue

MONITOR = FIXTURES / "laravel" / "redis-monitor"
LARAVEL_PREFIX = b"laravel-database-"

# Laravel's queue scripts, restated from the spec (§5.2) to replay what PHP sent.
LARAVEL_SCRIPTS = {
    "push": """
redis.call('rpush', KEYS[1], ARGV[1])
redis.call('rpush', KEYS[2], 1)
""",
    "later": "redis.call('zadd', KEYS[1], ARGV[1], ARGV[2])",
    "pop": """
local job = redis.call('lpop', KEYS[1])
local reserved = false
if(job ~= false) then
    reserved = cjson.decode(job)
    reserved['attempts'] = reserved['attempts'] + 1
    reserved = cjson.encode(reserved)
    redis.call('zadd', KEYS[2], ARGV[1], reserved)
    redis.call('lpop', KEYS[3])
end
return {job, reserved}
""",
    "release": """
redis.call('zrem', KEYS[2], ARGV[1])
redis.call('zadd', KEYS[1], ARGV[2], ARGV[1])
return true
""",
    "migrateExpiredJobs": """
local val = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'limit', 0, ARGV[2])
if(next(val) ~= nil) then
    redis.call('zremrangebyrank', KEYS[1], 0, #val - 1)
    for i = 1, #val, 100 do
        redis.call('rpush', KEYS[2], unpack(val, i, math.min(i+99, #val)))
        for j = i, math.min(i+99, #val) do
            redis.call('rpush', KEYS[3], 1)
        end
    end
end
return val
""",
}

_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b", "\\": b"\\", '"': b'"'}


def _unrepr(quoted: str) -> bytes:
    """Undo Redis's `sdscatrepr` quoting of one MONITOR argument."""
    out = bytearray()
    i = 0
    while i < len(quoted):
        char = quoted[i]
        if char == "\\":
            nxt = quoted[i + 1]
            if nxt == "x":
                out.append(int(quoted[i + 2 : i + 4], 16))
                i += 4
                continue
            out += _ESCAPES[nxt]
            i += 2
            continue
        out += char.encode()
        i += 1
    return bytes(out)


@dataclass
class Command:
    time: float
    db: int
    from_lua: bool
    args: list[bytes]

    @property
    def name(self) -> str:
        return self.args[0].decode().upper()

    @property
    def script(self) -> str:
        match = re.match(rb"<Laravel Lua script: (\w+);", self.args[1])
        assert match, self.args[1][:80]
        return match.group(1).decode()


def parse_monitor(name: str) -> list[Command]:
    commands = []
    for line in (MONITOR / name).read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(\d+\.\d+) \[(\d+) ([^\]]+)\] (.*)$", line)
        if not match:
            continue
        args = [_unrepr(a) for a in re.findall(r'"((?:[^"\\]|\\.)*)"', match.group(4))]
        commands.append(Command(float(match.group(1)), int(match.group(2)), match.group(3) == "lua", args))
    return commands


def queue_commands(name: str) -> list[Command]:
    """What the client sent on db 0 about queue keys (cache GETs and lock DELs left out)."""
    return [
        c
        for c in parse_monitor(name)
        if not c.from_lua and c.db == 0 and c.name not in ("SELECT", "MULTI", "EXEC", "GET", "DEL")
    ]


def lua_effects(name: str, command: str) -> list[Command]:
    return [c for c in parse_monitor(name) if c.from_lua and c.name == command.upper()]


def rekey(key: bytes, prefix: str) -> bytes:
    assert key.startswith(LARAVEL_PREFIX), key
    return prefix.encode() + key[len(LARAVEL_PREFIX) :]


def replay(client: Any, commands: list[Command], prefix: str) -> None:
    """Send what Laravel sent, with its scripts, under `prefix`."""
    for command in commands:
        if command.name == "EVAL":
            numkeys = int(command.args[2])
            keys = [rekey(k, prefix) for k in command.args[3 : 3 + numkeys]]
            client.eval(LARAVEL_SCRIPTS[command.script], numkeys, *keys, *command.args[3 + numkeys :])
        elif command.name == "ZREM":
            client.zrem(rekey(command.args[1], prefix), *command.args[2:])
        else:
            raise AssertionError(f"unexpected command in transcript: {command.name}")


def dump(client: Any, prefix: str) -> dict[str, Any]:
    """Every key under the prefix (prefix stripped) with list order, zset members and scores."""
    state: dict[str, Any] = {}
    for key in sorted(client.scan_iter(match=f"{prefix}*")):
        name = key.decode()[len(prefix) :]
        kind = client.type(key)
        if kind == b"list":
            state[name] = client.lrange(key, 0, -1)
        elif kind == b"zset":
            state[name] = client.zrange(key, 0, -1, withscores=True)
        else:
            state[name] = kind
    return state


def php_json(value: Any) -> bytes:
    """`json_encode($v, JSON_UNESCAPED_UNICODE)`: compact, raw UTF-8, `/` escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/").encode()


ENVELOPE_ORDER = [
    "uuid", "displayName", "job", "maxTries", "maxExceptions", "failOnTimeout", "backoff", "timeout",
    "retryUntil", "data", "createdAt", "illuminate:log:context", "id", "attempts", "delay",
]  # fmt: skip


def laravel_original(reserved: bytes) -> bytes:
    """The list element PHP pushed, rebuilt from a reserved copy (key order, [] for {})."""
    decoded = json.loads(reserved)
    decoded["attempts"] -= 1
    decoded["data"] = {k: decoded["data"][k] for k in ("commandName", "command", "batchId")}
    context = decoded.get("illuminate:log:context")
    if context is not None:
        hidden = context["hidden"]
        order = ["laravel_unique_job_cache_store", "laravel_unique_job_key"]
        context["data"] = context["data"] or []
        context["hidden"] = {k: hidden[k] for k in order if k in hidden}
        decoded["illuminate:log:context"] = {"data": context["data"], "hidden": context["hidden"]}
    return php_json({k: decoded[k] for k in ENVELOPE_ORDER if k in decoded})


@pytest.fixture
def prefixes(redis_prefix: str) -> tuple[str, str]:
    """Laravel's replay and the Python driver each get their own prefix (both cleaned up)."""
    return f"{redis_prefix}php-", f"{redis_prefix}py-"


def driver(client: Any, prefix: str, now: float, retry_after: int = 90) -> RedisQueue:
    return RedisQueue(client, prefix=prefix, retry_after=retry_after, clock=lambda: now)


# -- dispatching ----------------------------------------------------------------------------


@pytest.mark.parametrize("transcript", ["01-dispatch-push.txt", "10-queue-retry-all.txt"])
def test_push_matches_laravel(redis_client: Any, prefixes: tuple[str, str], transcript: str) -> None:
    php, py = prefixes
    [command] = queue_commands(transcript)
    replay(redis_client, [command], php)
    job_id = driver(redis_client, py, command.time).push_raw(command.args[-1])
    assert job_id == json.loads(command.args[-1])["id"]
    assert dump(redis_client, py) == dump(redis_client, php) != {}
    assert lua_effects(transcript, "rpush")[0].args[2] == command.args[-1]


def test_delayed_push_matches_laravel(redis_client: Any, prefixes: tuple[str, str]) -> None:
    php, py = prefixes
    [command] = queue_commands("02-dispatch-delayed.txt")
    replay(redis_client, [command], php)
    payload, available_at = command.args[-1], int(command.args[-2])
    driver(redis_client, py, command.time).push_raw(payload, delay=available_at - int(command.time))
    assert dump(redis_client, py) == dump(redis_client, php)
    assert dump(redis_client, py) == {"queues:default:delayed": [(payload, float(available_at))]}


def test_prepare_payload_gives_laravels_key_order(redis_client: Any, redis_prefix: str) -> None:
    [command] = queue_commands("01-dispatch-push.txt")
    laravel = json.loads(command.args[-1])
    without = {k: v for k, v in laravel.items() if k not in ("id", "attempts")}
    prepared = RedisQueue(redis_client, prefix=redis_prefix).prepare_payload(without)
    assert list(prepared) == list(laravel)
    assert prepared["attempts"] == 0


# -- working ---------------------------------------------------------------------------------


WORKER_SCENARIOS = {
    "05-worker-once-pop-ack.txt": "delete",
    "06-worker-once-release-10s.txt": "release",
    "07-worker-once-failure-tries1.txt": "delete",
    "08-worker-once-exception-tries3-backoff5.txt": "release",
    "09-worker-once-delayed-migration.txt": "delete",
    "11-worker-once-unique-job.txt": "delete",
    "15-worker-once-expired-reservation-migration.txt": "delete",
}


def seed_initial_state(client: Any, transcript: str, prefix: str) -> None:
    """What Redis held before the worker started, rebuilt from the transcript itself."""
    migrated = lua_effects(transcript, "rpush")
    element = next((c for c in migrated if not c.args[1].endswith(b":notify")), None)
    if element is None:  # a listed job: rebuild PHP's element from its reserved copy
        reserved = lua_effects(transcript, "zadd")[0].args[3]
        client.rpush(f"{prefix}queues:default", laravel_original(reserved))
        client.rpush(f"{prefix}queues:default:notify", 1)
        return
    source = rekey(element.args[1], prefix).decode()
    moved = element.args[2]
    if b'"attempts":0' in moved:  # delayed job: due at createdAt + delay
        body = json.loads(moved)
        client.zadd(f"{source}:delayed", {moved: body["createdAt"] + body["delay"]})
    else:  # a reservation whose worker was killed: expired at createdAt + retry_after
        body = json.loads(moved)
        client.zadd(f"{source}:reserved", {moved: body["createdAt"] + 3})


@pytest.mark.parametrize("transcript", sorted(WORKER_SCENARIOS))
@pytest.mark.parametrize("ack", ["immediate", "deferred"])
def test_worker_cycle_matches_laravel(redis_client: Any, prefixes: tuple[str, str], transcript: str, ack: str) -> None:
    php, py = prefixes
    commands = queue_commands(transcript)
    migrate, pop = commands[0], commands[2]
    now, expiry = int(migrate.args[-2]), int(pop.args[-1])
    for prefix in (php, py):
        seed_initial_state(redis_client, transcript, prefix)
    assert dump(redis_client, php) == dump(redis_client, py) != {}

    replay(redis_client, commands, php)

    queue = driver(redis_client, py, now, retry_after=expiry - now)
    job = queue.pop()
    assert job is not None
    transcript_reserved = lua_effects(transcript, "zadd")[0].args[3]
    assert job.reserved == transcript_reserved, "reserved copy must be byte-identical to Laravel's"
    if WORKER_SCENARIOS[transcript] == "release":
        release = commands[3]
        job.release(int(release.args[-1]) - now)
    elif ack == "immediate":
        job.delete()
    else:
        job.delete_later()
        assert queue.pop(ack=job) is None
    assert dump(redis_client, py) == dump(redis_client, php)


def test_payload_without_attempts_is_kept_where_laravel_loses_it(redis_client: Any, prefixes: tuple[str, str]) -> None:
    php, py = prefixes
    commands = queue_commands("18-worker-once-payload-without-attempts-is-lost.txt")
    body = b'{"uuid":"u-18","displayName":"App\\\\Handlers\\\\RawHandler","job":"X@y","data":{}}'
    for prefix in (php, py):
        redis_client.rpush(f"{prefix}queues:default", body)
    with pytest.raises(Exception, match="attempt"):
        replay(redis_client, commands, php)
    assert dump(redis_client, php) == {}, "Laravel's script LPOPs, then errors: the job is gone"
    now = int(commands[0].args[-2])
    job = driver(redis_client, py, now).pop()
    assert job is not None and job.raw_bytes == body and job.attempts() == 1
    assert dump(redis_client, py) == {"queues:default:reserved": [(job.reserved, float(now + 90))]}


# -- across processes ---------------------------------------------------------------------------


def redis_cli(server: tuple[str, int], *args: str | bytes) -> list[bytes]:
    binary = shutil.which("redis-cli")
    if not binary:
        unavailable("redis-cli is not installed (apt-get install redis-tools)")
    assert binary
    argv = [binary.encode(), b"-h", server[0].encode(), b"-p", str(server[1]).encode(), b"--raw"]
    argv += [a if isinstance(a, bytes) else a.encode() for a in args]
    result = subprocess.run(argv, capture_output=True, check=True, timeout=10)
    assert not result.stdout.startswith(b"ERR"), result.stdout
    return result.stdout.splitlines()


def laravel_cli_pop(server: tuple[str, int], prefix: str, now: int, retry_after: int = 90) -> list[bytes]:
    """A separate process doing Laravel's pop: both migrations, then the pop script."""
    q = f"{prefix}queues:default"
    for source in (f"{q}:delayed", f"{q}:reserved"):
        redis_cli(server, "EVAL", LARAVEL_SCRIPTS["migrateExpiredJobs"], "3", source, q, f"{q}:notify", str(now), "-1")
    return redis_cli(
        server, "EVAL", LARAVEL_SCRIPTS["pop"], "3", q, f"{q}:reserved", f"{q}:notify", str(now + retry_after)
    )


def test_python_push_is_popped_by_laravels_script_in_another_process(
    redis_server: tuple[str, int], redis_client: Any, redis_prefix: str
) -> None:
    now = 1795417300
    queue = driver(redis_client, redis_prefix, now)
    payload = queue.prepare_payload(
        {"uuid": "u-py", "displayName": "py.jobs.hello", "job": "py.jobs.hello", "data": {"to": "wörld/✓"},
         "createdAt": now, "delay": None}
    )  # fmt: skip
    encoded = php_json(payload)
    queue.push_raw(encoded)
    job, reserved = laravel_cli_pop(redis_server, redis_prefix, now)
    assert job == encoded
    assert json.loads(reserved) == {**payload, "attempts": 1}
    redis_cli(redis_server, "ZREM", f"{redis_prefix}queues:default:reserved", reserved)
    assert queue.size() == 0 and redis_client.llen(queue.keys().notify) == 0


def test_laravel_push_is_popped_by_python_and_released_back_to_laravel(
    redis_server: tuple[str, int], redis_client: Any, redis_prefix: str
) -> None:
    [command] = queue_commands("01-dispatch-push.txt")
    payload = command.args[-1]
    q = f"{redis_prefix}queues:default"
    redis_cli(redis_server, "EVAL", LARAVEL_SCRIPTS["push"], "2", q, f"{q}:notify", payload)
    now = int(command.time)
    job = driver(redis_client, redis_prefix, now).pop()
    assert job is not None
    assert job.raw_bytes == payload and job.attempts() == 1
    assert job.job_id == "MsnTbzorWuJ1NpyyrtDJWBjQKCj6Dh0X"
    assert job.display_name == "App\\Jobs\\ControlledJob"
    job.release(5)
    popped, reserved = laravel_cli_pop(redis_server, redis_prefix, now + 5)
    assert popped == job.reserved
    assert json.loads(reserved)["attempts"] == 2
    again = driver(redis_client, redis_prefix, now + 5)
    assert again.reserved_size() == 1 and again.pending_size() == 0


def test_fixture_files_are_present() -> None:
    names = {p.name for p in Path(MONITOR).iterdir()}
    assert set(WORKER_SCENARIOS) <= names
