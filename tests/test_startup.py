"""Start-up budget (issue 26), guarded by what each command imports rather than by a clock.

Each command runs in a fresh interpreter through `laravel_queue.cli.main`; the modules
left in `sys.modules` afterwards must not include the heavy ones that command does not
use. Timings live in benchmarks/bench_startup.py and BENCHMARKS.md. Also here: the
one-shot Redis client `dispatch` uses instead of redis-py pushes the same bytes to the
same keys as redis-py does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import free_port

from laravel_queue.cli import app
from laravel_queue.cli.redis_push import DispatchConnections
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.drivers import redis_scripts

PROBE = """
import json, sys
from laravel_queue.cli import main
try:
    main(sys.argv[2:])
except SystemExit as exit:
    code = exit.code
else:
    code = 0
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""
NOTHING_DUE = """
from laravel_queue.schedule import Schedule

schedule = Schedule()
schedule.job("App\\\\Jobs\\\\NewYear").cron("0 0 1 1 *")
"""
PYDANTIC_ON_FIRST_BUILD = """
import sys
from dataclasses import dataclass
from laravel_queue.lazy_pydantic import is_model_class, is_model_instance
from laravel_queue.registry import CommandValidationError, Registry

@dataclass
class Ping:
    count: int

    def handle(self) -> None: ...

registry = Registry()
registry.register("App\\\\Jobs\\\\Ping", Ping)
assert "pydantic" not in sys.modules, "registering a dataclass handler needs no pydantic"
assert not is_model_instance(Ping(1)) and not is_model_class(Ping)
registration = registry.get("App\\\\Jobs\\\\Ping")
assert registration is not None and registration.build({"count": "7"}) == Ping(7)
try:
    registration.build({"count": "seven"})
except CommandValidationError as exc:
    assert "count" in str(exc) and "seven" not in str(exc), exc
else:
    raise AssertionError("not validated")
from pydantic import BaseModel

class Model(BaseModel):
    count: int = 0

assert is_model_instance(Model()) and is_model_class(Model) and not is_model_instance(Model)
"""
# Never on any of these paths: other CLI stacks, other services' clients, the worker.
ALWAYS_HEAVY = (
    "typer", "rich", "prometheus_client", "pymysql", "psycopg", "boto3", "botocore", "redis",
    "opentelemetry", "asyncio", "laravel_queue.worker.worker", "laravel_queue.ops.hooks",
)


def imported_by(args: list[str], env: dict[str, str], cwd: Path) -> set[str]:
    """The modules a fresh interpreter holds after running `laravel-queue ARGS` (which must succeed)."""
    out = cwd / f"modules-{uuid.uuid4().hex[:8]}.json"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "REDIS_", "QUEUE_", "CACHE_"))}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args],
        env={**clean, "NO_COLOR": "1", "PYTHONPATH": str(cwd), **env}, cwd=cwd,
        capture_output=True, text=True, timeout=60, check=False,
    )
    report = json.loads(out.read_text())
    assert report["code"] == 0, result.stderr
    return set(report["modules"])


def loaded(modules: set[str], heavy: tuple[str, ...]) -> list[str]:
    return sorted(name for name in modules for top in heavy if name == top or name.startswith(top + "."))


def test_help_imports_click_and_the_command_modules_only(tmp_path: Path) -> None:
    modules = imported_by(["--help"], {}, tmp_path)
    assert loaded(modules, (*ALWAYS_HEAVY, "pydantic", "laravel_queue.config", "laravel_queue.connections")) == []
    assert "click" in modules


def test_queue_failed_on_sqlite_imports_no_payload_or_horizon_code(sqlite_env: dict[str, str], tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "laravel_queue", "migrate"], env={**os.environ, **sqlite_env},
                   capture_output=True, check=True, timeout=60)
    modules = imported_by(["queue:failed"], sqlite_env, tmp_path)
    heavy = (*ALWAYS_HEAVY, "laravel_queue.payload", "laravel_queue.horizon", "laravel_queue.registry", "cryptography")
    assert loaded(modules, heavy) == []
    assert "laravel_queue.failed.database" in modules  # it did read the store


def test_schedule_run_with_nothing_due_imports_no_queue_code(sqlite_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "nothing_due.py").write_text(NOTHING_DUE)
    env = {**sqlite_env, "CACHE_STORE": "array"}
    modules = imported_by(["schedule:run", "--schedule", "nothing_due"], env, tmp_path)
    heavy = (*ALWAYS_HEAVY, "laravel_queue.payload", "laravel_queue.registry", "laravel_queue.drivers")
    assert loaded(modules, heavy) == []
    assert "laravel_queue.schedule.runner" in modules


def test_dispatch_to_redis_imports_no_redis_py_or_pydantic(
    redis_env: dict[str, str], tmp_path: Path, redis_client: Any
) -> None:
    modules = imported_by(["dispatch", "App\\Jobs\\Startup", "--connection", "redis"], redis_env, tmp_path)
    heavy = (*ALWAYS_HEAVY, "pydantic", "pydantic_core", "laravel_queue.payload")  # payload_codec is enough
    assert loaded(modules, heavy) == []
    assert redis_client.llen(f"{redis_env['REDIS_PREFIX']}queues:default") == 1


def test_a_worker_without_model_handlers_imports_no_pydantic(redis_env: dict[str, str], tmp_path: Path) -> None:
    env = {**redis_env, "CACHE_STORE": "array"}
    modules = imported_by(["queue:work", "redis", "--stop-when-empty", "--sleep", "0"], env, tmp_path)
    assert loaded(modules, ("pydantic", "pydantic_core", "laravel_queue.payload")) == []
    assert "laravel_queue.worker.worker" in modules


def test_pydantic_is_imported_by_the_first_build_of_a_dataclass_handler_not_before(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", PYDANTIC_ON_FIRST_BUILD], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", [[], ["queue:work"], ["dispatch"], ["queue:retry"], ["schedule:run"]])
def test_help_names_values_by_meaning_not_type(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert not re.search(r"<(str|int|float|bool|file|dir|path|list)", result.output), result.output
    assert not re.search(r"\b(TEXT|INTEGER|FLOAT|BOOLEAN)\b", result.output), result.output


def test_help_shows_meaningful_metavars() -> None:
    work = CliRunner().invoke(app, ["queue:work", "--help"]).output
    assert "--sleep SECONDS" in work and "--memory MB" in work and "--once " in work
    assert "--env-file FILE" in work and "Arguments:" in work and "[CONNECTION]" in work
    dispatch = CliRunner().invoke(app, ["dispatch", "--help"]).output
    assert "--delay SECONDS" in dispatch and "--connection CONNECTION" in dispatch and "--encrypt " in dispatch


# -- the one-shot client pushes what redis-py pushes ----------------------------------------


def push_through(connections: Connections, payload: str, queue: str, delay: int = 0) -> None:
    try:
        connections.queue("redis").push_raw(payload, queue, delay=delay)
    finally:
        connections.close()


@pytest.mark.parametrize("delay", [0, 30])
def test_one_shot_push_stores_what_redis_py_stores(redis_env: dict[str, str], redis_client: Any, delay: int) -> None:
    settings = load_settings(environ=redis_env)
    payload = json.dumps({"id": "x" * 32, "job": "é ü \\u00e9", "attempts": 0, "delay": None}, ensure_ascii=False)
    push_through(Connections(settings), payload, "by-redis-py", delay)
    one_shot = DispatchConnections(settings)
    client = one_shot.redis()
    push_through(one_shot, payload, "by-one-shot", delay)
    assert client._real is None  # redis-py was never needed
    prefix = redis_env["REDIS_PREFIX"]
    if delay:
        [(ours, our_score)] = redis_client.zrange(f"{prefix}queues:by-one-shot:delayed", 0, -1, withscores=True)
        [(theirs, their_score)] = redis_client.zrange(f"{prefix}queues:by-redis-py:delayed", 0, -1, withscores=True)
        assert abs(our_score - their_score) <= 1
    else:
        ours = redis_client.lrange(f"{prefix}queues:by-one-shot", 0, -1)[0]
        theirs = redis_client.lrange(f"{prefix}queues:by-redis-py", 0, -1)[0]
        assert redis_client.lrange(f"{prefix}queues:by-one-shot:notify", 0, -1) == redis_client.lrange(
            f"{prefix}queues:by-redis-py:notify", 0, -1
        )
    assert ours == theirs == payload.encode()


def test_one_shot_loads_a_script_the_server_does_not_know(redis_env: dict[str, str], redis_client: Any) -> None:
    connections = DispatchConnections(load_settings(environ=redis_env))
    client = connections.redis()
    script = client.register_script(f"-- {uuid.uuid4().hex}\n{redis_scripts.PUSH}")
    key = f"{redis_env['REDIS_PREFIX']}queues:noscript"
    try:
        script(keys=[key, f"{key}:notify"], args=["payload"])
        assert client._real is None  # served on its own socket, after NOSCRIPT and SCRIPT LOAD
    finally:
        connections.close()
    assert redis_client.lrange(key, 0, -1) == [b"payload"]


def test_one_shot_errors_are_redis_py_errors(redis_env: dict[str, str]) -> None:
    import redis.exceptions

    connections = DispatchConnections(load_settings(environ=redis_env))
    client = connections.redis()
    try:
        with pytest.raises(redis.exceptions.ResponseError, match="boom"):
            client.register_script("return redis.error_reply('ERR boom')")(keys=[], args=[])
    finally:
        connections.close()


def test_one_shot_falls_back_to_redis_py_when_it_cannot_connect(redis_env: dict[str, str]) -> None:
    import redis.exceptions

    connections = DispatchConnections(load_settings(environ={**redis_env, "REDIS_PORT": str(free_port())}))
    try:
        with pytest.raises(redis.exceptions.ConnectionError, match="Connection refused"):
            connections.queue("redis").push_raw("{}", "default")
    finally:
        connections.close()
