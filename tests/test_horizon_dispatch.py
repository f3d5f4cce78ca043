"""Horizon bookkeeping, dispatch side and whole runs: Python-dispatched jobs appear in Horizon,
`queue:work` registers the listener, `config:show` says what is in force."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import ROOT
from support import horizon as shared
from support.horizon import PhpHorizon, redis_view

from laravel_queue.cli import app
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.dispatch import Command, dispatch
from laravel_queue.horizon import attach_listener, resolve_mode
from laravel_queue.models import ModelIdentifier
from laravel_queue.ops.retry import push_back
from laravel_queue.registry import default_registry
from laravel_queue.schema import migrate
from laravel_queue.worker import Worker, WorkerOptions
from laravel_queue.worker.lifecycle import WorkerEvents
from laravel_queue.worker.output import WorkerOutput

PUSHED_FIELDS = {"id", "connection", "queue", "name", "status", "payload", "created_at", "updated_at"}

hprefix, env, conns = shared.hprefix, shared.env, shared.conns  # the shared fixtures


def user(ids: Any) -> ModelIdentifier:
    return ModelIdentifier("App\\Models\\User", ids, [], "sqlite")


def test_python_dispatch_carries_horizons_fields_and_writes_the_pending_record(
    conns: Connections, redis_client: Any, redis_prefix: str, hprefix: str
) -> None:
    redis_client.sadd(hprefix + "monitoring", "App\\Models\\User:2")
    job_id = dispatch(Command("App\\Jobs\\ModelJob", {"user": user(1), "team": user([2, 3])}), connections=conns)
    [raw] = redis_client.lrange(f"{redis_prefix}queues:default", 0, -1)
    payload = json.loads(raw)
    assert job_id == payload["id"] == payload["uuid"]  # Horizon's createPayloadArray: id = uuid
    assert list(payload)[-4:] == ["type", "tags", "silenced", "pushedAt"]  # JobPayload::prepare appends
    assert payload["type"] == "job" and payload["silenced"] is False
    assert payload["tags"] == ["App\\Models\\User:1", "App\\Models\\User:2", "App\\Models\\User:3"]
    assert float(payload["pushedAt"]) > 0 and isinstance(payload["pushedAt"], str)

    view = redis_view(redis_client, hprefix, job_id)
    assert view.fields == PUSHED_FIELDS and view.status == "pending"
    assert view.sets == {"recent_jobs", "pending_jobs"}
    assert redis_client.hget(hprefix + job_id, "payload") == raw
    assert redis_client.hget(hprefix + job_id, "name") == b"App\\Jobs\\ModelJob"
    assert 3590 < redis_client.ttl(hprefix + job_id) <= 3600  # trim.pending
    assert redis_client.zscore(hprefix + "App\\Models\\User:2", job_id) > 0  # monitored at push
    assert not redis_client.exists(hprefix + "App\\Models\\User:1")  # not monitored: no list


def test_unicode_is_escaped_like_horizons_json_encode_and_silenced_classes_are_marked(
    conns: Connections, redis_client: Any, redis_prefix: str
) -> None:
    dispatch(Command("App\\Jobs\\ControlledJob", {"mode": "ok", "tag": "py ✓ a/b"}), connections=conns)
    dispatch(Command("App\\Jobs\\QuietJob", {}), connections=conns, delay=30)
    [raw] = redis_client.lrange(f"{redis_prefix}queues:default", 0, -1)
    assert b"\\u2713" in raw and b"a\\/b" in raw
    [(delayed, _)] = redis_client.zrange(f"{redis_prefix}queues:default:delayed", 0, -1, withscores=True)
    assert json.loads(delayed)["silenced"] is True


def test_a_mixed_run_through_queue_work_gives_horizon_the_true_counts(
    env: dict[str, str], conns: Connections, redis_client: Any, hprefix: str, tmp_path: Path
) -> None:
    """PHP-dispatched and Python-dispatched jobs, two worker processes: pending 0, true counts and throughput."""
    php = PhpHorizon(conns, redis_client, hprefix)
    controlled = "App\\Jobs\\ControlledJob"
    php_ok = [php.push(controlled, {"mode": "ok", "tag": str(n)}) for n in range(6)]
    php_failed = [php.push(controlled, {"mode": "fail", "tag": "f"})]
    released = [php.push(controlled, {"mode": "fail-first", "tag": "ff"})]
    py_ok = [dispatch(Command(controlled, {"mode": "ok", "tag": f"py{n}"}), connections=conns) for n in range(4)]
    py_failed = [dispatch(Command(controlled, {"mode": "fail", "tag": "pyf"}), connections=conns)]
    result = subprocess.run(
        [sys.executable, "-m", "laravel_queue", "queue:work", "--jobs", "tests.support.horizon_jobs", "--tries", "2",
         "--sleep", "0.05", "--stop-when-empty", "--concurrency", "2"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert conns.queue().size() == 0

    completed = php_ok + released + py_ok
    failed = php_failed + py_failed
    for job_id in completed:
        assert redis_view(redis_client, hprefix, job_id).status == "completed"
    for job_id in failed:
        assert redis_view(redis_client, hprefix, job_id).status == "failed"
    assert {name: redis_client.zcard(hprefix + name) for name in
            ("recent_jobs", "pending_jobs", "completed_jobs", "failed_jobs")} == {
        "recent_jobs": 13, "pending_jobs": 0, "completed_jobs": len(completed), "failed_jobs": len(failed)}
    assert len(conns.failed().all()) == len(failed)
    assert int(redis_client.hget(hprefix + "queue:default", "throughput")) == len(completed)
    assert int(redis_client.hget(hprefix + "job:App\\Jobs\\ControlledJob", "throughput")) == len(completed)


def test_queue_retry_of_a_failed_job_is_listed_as_pending_again(
    conns: Connections, redis_client: Any, hprefix: str
) -> None:
    """As `artisan queue:retry` through Horizon's RedisQueue::pushRaw: the pushed copy gets a pending record."""
    job_id = dispatch(Command("App\\Jobs\\ControlledJob", {"mode": "ok", "tag": "r"}), connections=conns)
    job = conns.queue().pop()
    assert job is not None
    job.delete()
    failed_id = conns.failed().log("redis", "default", job.raw_body, "RuntimeError: boom")
    redis_client.delete(hprefix + str(job_id))
    [record] = [r for r in conns.failed().all() if str(r.id) == str(failed_id)]
    push_back(conns, record)
    view = redis_view(redis_client, hprefix, str(job_id))
    assert view.status == "pending" and view.fields == PUSHED_FIELDS and "pending_jobs" in view.sets


def test_database_queue_apps_are_unaffected(
    sqlite_env: dict[str, str], redis_env: dict[str, str], redis_client: Any, hprefix: str
) -> None:
    """Horizon is Redis-only: with bookkeeping on, database jobs get no Horizon fields and no Horizon keys."""
    environ = {**sqlite_env, **redis_env, "QUEUE_CONNECTION": "database", "HORIZON_PREFIX": hprefix}
    conns = Connections(load_settings(environ=environ))
    try:
        migrate(conns.db())
        dispatch(Command("App\\Jobs\\ControlledJob", {"mode": "ok", "tag": "db"}), connections=conns)
        events = WorkerEvents()
        assert attach_listener(events, conns, conns.settings)
        seen: list[Any] = []
        events.reserved.append(lambda job: seen.append(dict(job.payload)))
        Worker(conns, registry=default_registry, options=WorkerOptions(memory=4096, sleep=0, stop_when_empty=True),
               output=WorkerOutput(io.StringIO()), events=events).daemon(None, ["default"])
        assert len(seen) == 1 and "pushedAt" not in seen[0] and "type" not in seen[0]
        assert conns.queue().size() == 0 and list(redis_client.scan_iter(match=f"{hprefix}*")) == []
    finally:
        conns.close()


@pytest.mark.parametrize(
    ("environ", "flag", "expected"),
    [
        ({}, None, ("payload", "jobs whose payload Horizon prepared (pushedAt) only")),
        ({"HORIZON_PREFIX": "x:"}, None, ("on", "HORIZON_PREFIX is set")),
        ({"HORIZON_PREFIX": "x:", "HORIZON_ENABLED": "false"}, None, ("off", "HORIZON_ENABLED=false")),
        ({"HORIZON_ENABLED": "false"}, True, ("on", "--horizon")),
        ({"HORIZON_ENABLED": "true"}, False, ("off", "--no-horizon")),
    ],
)
def test_the_mode_in_force_and_why(environ: dict[str, str], flag: bool | None, expected: tuple[str, str]) -> None:
    resolved = resolve_mode(load_settings(environ=environ), flag)
    assert (resolved.mode, resolved.reason) == expected


def test_prefix_as_horizon_computes_it_and_config_show_reports_it(tmp_path: Path) -> None:
    assert load_settings(environ={"APP_NAME": "My Shop"}).horizon.prefix == "my_shop_horizon:"
    assert load_settings(environ={"HORIZON_PREFIX": ""}).horizon.prefix == "horizon:"  # Horizon::use(): ?: 'horizon:'
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "horizon.php").write_text("<?php return [];\n")
    (tmp_path / ".env").write_text("APP_NAME='Acme App'\nHORIZON_USE=horizon-redis\n")
    result = CliRunner().invoke(app, ["config:show", "--app", str(tmp_path)], env={"APP_NAME": None})
    assert result.exit_code == 0, result.output
    assert "horizon.bookkeeping" in result.output and "on (config/horizon.php found in the app)" in result.output
    assert "horizon-redis (key prefix acme_app_horizon:)" in result.output
    as_json = CliRunner().invoke(app, ["config:show", "--app", str(tmp_path), "--json"], env={"APP_NAME": None})
    assert json.loads(as_json.output)["in_force"]["horizon.bookkeeping"].startswith("on ")
