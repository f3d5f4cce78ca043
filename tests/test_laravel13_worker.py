"""Laravel 13 worker rules: pause --all, deleteWhenMissingModels from the payload, dontRetry,
the version detected from the app, and the 13.x DatabaseLock release."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.laravel13 import database_capture_time, fixture, load_database_state

from laravel_queue.bus import dont_retry
from laravel_queue.bus.lifecycle import BusLifecycle
from laravel_queue.cli import app
from laravel_queue.config import load_settings
from laravel_queue.config.laravel_version import detect_app_version
from laravel_queue.connections import Connections
from laravel_queue.models import ModelNotFoundError
from laravel_queue.payload import php_json_encode
from laravel_queue.registry import Registry
from laravel_queue.schema import migrate
from laravel_queue.worker import Worker, WorkerOptions

PING = "App\\Jobs\\PingJob"
GLOBAL_PAUSE = "illuminate:queues:paused"
runner = CliRunner()


def plain_payload(**changes: Any) -> str:
    payload = dict(fixture("database", "plain")["jobs"][0]["payload_decoded"], **changes)
    return php_json_encode({k: v for k, v in payload.items() if v is not ...})


def worker(conns: Connections, registry: Registry, **options: Any) -> Worker:
    return Worker(conns, registry=registry, options=WorkerOptions(**{"memory": 4096, "sleep": 0, **options}))


@pytest.fixture
def sqlite13(sqlite_env: dict[str, str]) -> Iterator[Connections]:
    conns = Connections(load_settings(environ={**sqlite_env, "LARAVEL_VERSION": "13"}))
    migrate(conns.db())
    yield conns
    conns.close()


def jobs_left(conns: Connections) -> int:
    db = conns.db()
    return len(db.fetch_all(f"select id from {db.table('jobs')}"))


def failed(conns: Connections) -> list[dict[str, Any]]:
    db = conns.db()
    return db.fetch_all(f"select * from {db.table('failed_jobs')}")


# -- pause --all -------------------------------------------------------------------------------------


@pytest.mark.parametrize("driver", ["database", "redis"])
def test_pause_all_stops_every_queue_until_resumed(
    driver: str, sqlite_env: dict[str, str], redis_env: dict[str, str], redis_client: Any
) -> None:
    env = {**sqlite_env, **redis_env, "LARAVEL_VERSION": "13", "APP_ENV": "local", "QUEUE_CONNECTION": driver,
           "CACHE_STORE": "redis" if driver == "redis" else "database"}
    conns = Connections(load_settings(environ=env))
    try:
        migrate(conns.db())
        handled: list[str] = []
        registry = Registry()
        registry.register(PING, lambda job, command: handled.append(command["tag"]))
        conns.queue(driver).push_raw(plain_payload(), "emails")
        result = runner.invoke(app, ["queue:pause", "--all"], env=env)
        assert result.exit_code == 0 and "Job processing on all queues has been paused." in result.stdout
        assert conns.cache().get(GLOBAL_PAUSE) is True
        assert Worker(conns).control.keys_for(conns.queue(driver), ["emails"]) is not None  # the pop reads it too
        # the daemon (its pops read the control keys) and --once (one cache read)
        assert worker(conns, registry, stop_when_empty=True).daemon(driver, ["default", "emails"]) == 0
        worker(conns, registry).run_next_job(driver, ["emails"])
        assert handled == []
        result = runner.invoke(app, ["queue:resume", "--all"], env=env)
        assert result.exit_code == 0 and "Job processing on all queues has been resumed." in result.stdout
        assert worker(conns, registry, stop_when_empty=True).daemon(driver, ["default", "emails"]) == 0
        assert handled == ["plain-1"]
    finally:
        conns.close()


def test_each_engines_controlled_pop_reads_the_global_key(db_env: dict[str, str]) -> None:
    """SQLite (SELECT in the pop's transaction), MariaDB (one trip), PostgreSQL (one statement)."""
    conns = Connections(load_settings(environ={**db_env, "LARAVEL_VERSION": "13", "CACHE_STORE": "database"}))
    try:
        migrate(conns.db())
        handled: list[str] = []
        registry = Registry()
        registry.register(PING, lambda job, command: handled.append(command["tag"]))
        conns.queue("database").push_raw(plain_payload(), "default")
        conns.cache().forever(GLOBAL_PAUSE, True)
        assert Worker(conns).control.keys_for(conns.queue("database"), ["default"]) is not None
        assert worker(conns, registry, stop_when_empty=True).daemon("database", ["default"]) == 0
        assert handled == []
        conns.cache().forget(GLOBAL_PAUSE)
        conns.cache().forever("illuminate:queue:paused:database:other", True)  # another queue's pause
        assert worker(conns, registry, stop_when_empty=True).daemon("database", ["default"]) == 0
        assert handled == ["plain-1"]
    finally:
        conns.close()


def test_pause_all_is_refused_before_laravel_13(sqlite_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["queue:pause", "--all"], env={**sqlite_env, "LARAVEL_VERSION": "12"})
    assert result.exit_code == 1
    assert "needs Laravel 13" in result.output


def test_pause_without_a_queue_or_all_is_an_error(sqlite_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["queue:pause"], env=sqlite_env)
    assert result.exit_code == 1
    assert "A queue name is required unless the --all option is used." in result.output


def test_laravel_12_workers_ignore_the_global_key(sqlite_env: dict[str, str]) -> None:
    conns = Connections(load_settings(environ={**sqlite_env, "LARAVEL_VERSION": "12"}))
    try:
        migrate(conns.db())
        conns.cache().forever(GLOBAL_PAUSE, True)
        assert Worker(conns).control.read("database", ["default"])[1] == set()
    finally:
        conns.close()


# -- deleteWhenMissingModels ---------------------------------------------------------------------------


def _missing_model(job: Any, command: Any) -> None:
    raise ModelNotFoundError("No query results for model [App\\Models\\Order] 7")


@pytest.mark.parametrize(("flag", "deleted"), [(True, True), (False, False), (..., False)])
def test_missing_models_follow_the_payload_flag(sqlite13: Connections, flag: Any, deleted: bool) -> None:
    """True: deleted, not failed. False or absent (a 12.x payload): failed at once, no retry."""
    registry = Registry()
    registry.register(PING, _missing_model, delete_when_missing_models=not flag if flag is not ... else True)
    sqlite13.queue("database").push_raw(plain_payload(deleteWhenMissingModels=flag, maxTries=3), "default")
    worker(sqlite13, registry).run_next_job("database", ["default"])
    assert jobs_left(sqlite13) == 0
    assert len(failed(sqlite13)) == (0 if deleted else 1)


def test_missing_models_before_13_take_the_usual_exception_path(sqlite_env: dict[str, str]) -> None:
    conns = Connections(load_settings(environ={**sqlite_env, "LARAVEL_VERSION": "12"}))
    try:
        migrate(conns.db())
        registry = Registry()
        registry.register(PING, _missing_model)
        conns.queue("database").push_raw(plain_payload(deleteWhenMissingModels=True, maxTries=3), "default")
        worker(conns, registry).run_next_job("database", ["default"])
        assert jobs_left(conns) == 1 and failed(conns) == []  # released for another try, as before
    finally:
        conns.close()


def test_missing_models_release_the_unique_lock_named_in_the_context(sqlite13: Connections) -> None:
    before = fixture("database", "unique")
    before["jobs"][0]["payload"] = php_json_encode(
        dict(before["jobs"][0]["payload_decoded"], deleteWhenMissingModels=True)
    )
    env_prefix = sqlite13.settings.cache.prefix
    before["cache_locks"] = [dict(before["cache_locks"][0], key=env_prefix + before["cache_locks"][0]["key"].split(
        "laravel-cache-", 1)[1])]
    load_database_state(sqlite13.db(), before, int(time.time()) - database_capture_time(before))
    registry = Registry()
    registry.register("App\\Jobs\\UniquePingJob", _missing_model)
    worker(sqlite13, registry).run_next_job("database", ["default"])
    db = sqlite13.db()
    assert db.fetch_all(f"select * from {db.table('cache_locks')}") == []
    assert jobs_left(sqlite13) == 0 and failed(sqlite13) == []


# -- dontRetry ------------------------------------------------------------------------------------------


class PermanentError(Exception):
    pass


class DeclaredOnTheClass(Exception):
    dont_retry = True


@pytest.fixture
def app_wide() -> Iterator[None]:
    yield
    dont_retry.clear()


@pytest.mark.parametrize("how", ["registration", "app", "predicate", "class", "none"])
def test_dont_retry_fails_the_job_at_once(sqlite13: Connections, app_wide: None, how: str) -> None:
    error: type[Exception] = DeclaredOnTheClass if how == "class" else PermanentError

    def handler(job: Any, command: Any) -> None:
        raise error("gone for good")

    registry = Registry()
    registry.register(PING, handler, dont_retry=(PermanentError,) if how == "registration" else ())
    if how == "app":
        dont_retry.dont_retry(PermanentError)
    if how == "predicate":
        dont_retry.dont_retry_when(lambda exc: "for good" in str(exc))
    sqlite13.queue("database").push_raw(plain_payload(maxTries=5), "default")
    worker(sqlite13, registry).run_next_job("database", ["default"])
    if how == "none":
        assert jobs_left(sqlite13) == 1 and failed(sqlite13) == []  # released: 4 tries left
    else:
        assert jobs_left(sqlite13) == 0 and len(failed(sqlite13)) == 1


# -- version detection -----------------------------------------------------------------------------------


def test_version_from_composer_lock_then_application_php(tmp_path: Path) -> None:
    assert detect_app_version(tmp_path) is None
    php = tmp_path / "vendor/laravel/framework/src/Illuminate/Foundation/Application.php"
    php.parent.mkdir(parents=True)
    php.write_text("<?php class Application { const VERSION = '13.26.1'; }")
    found = detect_app_version(tmp_path)
    assert found is not None and found.raw == "13.26.1" and "Application::VERSION" in found.source
    (tmp_path / "composer.lock").write_text(
        json.dumps({"packages": [{"name": "laravel/framework", "version": "v12.67.0"}]})
    )
    found = detect_app_version(tmp_path)
    assert found is not None and found.raw == "12.67.0" and "composer.lock" in found.source


def test_settings_and_config_show_name_the_version_and_its_source(tmp_path: Path) -> None:
    (tmp_path / "composer.lock").write_text(
        json.dumps({"packages": [{"name": "laravel/framework", "version": "v13.26.1"}]})
    )
    (tmp_path / ".env").write_text("APP_NAME=Laravel\n")
    settings = load_settings(app_path=tmp_path, environ={})
    assert settings.laravel_version == (13, 26)
    assert "composer.lock" in settings.laravel_version_source
    assert load_settings(app_path=tmp_path, environ={"LARAVEL_VERSION": "12"}).laravel_version == (12, 99)
    assert load_settings(environ={}).laravel_version_source.startswith("default")
    result = runner.invoke(app, ["config:show", "--app", str(tmp_path)], env={})
    assert result.exit_code == 0, result.stdout
    assert "Laravel 13.26 rules, from" in result.stdout and "composer.lock" in result.stdout


# -- DatabaseLock under 13 ---------------------------------------------------------------------------------


def test_database_lock_release_is_owner_checked_and_ignores_expired_rows(sqlite13: Connections) -> None:
    store = sqlite13.cache("database")
    lock = store.lock("k", 60, "owner-a")
    assert lock.acquire()
    assert not store.restore_lock("k", "owner-b").release()
    assert store.lock("k").get_current_owner() == "owner-a"
    assert store.restore_lock("k", "owner-a").release()
    assert store.lock("k").get_current_owner() is None
    db = sqlite13.db()
    db.execute(f"insert into {db.table('cache_locks')} (key, owner, expiration) values (?, ?, ?)",
               (store.prefix + "old", "x", int(time.time()) - 5))
    assert store.lock("old").get_current_owner() is None  # expired: nobody owns it


# -- unique locks with owners -----------------------------------------------------------------------------


def _unique_capture(owner_in_lock: str, *, attempts: int = 0, owner_in_payload: bool = True) -> dict[str, Any]:
    before = fixture("database", "unique")
    payload = dict(before["jobs"][0]["payload_decoded"])
    if not owner_in_payload:
        payload["data"] = dict(payload["data"])
        payload["data"]["command"] = payload["data"]["command"].replace(
            ':3:{s:3:"key";s:8:"order-42";s:10:"connection";s:8:"database";s:15:"uniqueLockOwner";s:16:"8JdF7o0XrmkV23df";}',
            ':2:{s:3:"key";s:8:"order-42";s:10:"connection";s:8:"database";}')
        hidden = dict(payload["illuminate:log:context"]["hidden"])
        del hidden["laravel_unique_job_lock_owner"]
        payload["illuminate:log:context"] = {"data": [], "hidden": hidden}
    payload["maxTries"] = 3
    before["jobs"] = [dict(before["jobs"][0], payload=php_json_encode(payload), attempts=attempts)]
    before["cache_locks"] = [dict(before["cache_locks"][0], owner=owner_in_lock)]
    return before


@pytest.mark.parametrize(
    ("attempts", "owner_in_payload", "released"),
    [(0, True, True), (1, True, True), (1, False, False), (0, False, True)],
)
def test_until_processing_lock_released_on_first_attempt_or_with_an_owner(
    sqlite13: Connections, attempts: int, owner_in_payload: bool, released: bool
) -> None:
    """13.x: a retry (attempt 2) of a job without an owner must not drop a lock taken since."""
    before = _unique_capture("8JdF7o0XrmkV23df", attempts=attempts, owner_in_payload=owner_in_payload)
    db = sqlite13.db()
    load_database_state(db, before, int(time.time()) - database_capture_time(before))
    held: list[bool] = []
    registry = Registry()
    registry.register(
        "App\\Jobs\\UniquePingJob",
        lambda job, command: held.append(bool(db.fetch_all(f"select * from {db.table('cache_locks')}"))),
        unique="until_processing",
    )
    lifecycle = BusLifecycle(sqlite13, registry=registry)
    Worker(sqlite13, registry=registry, options=WorkerOptions(memory=4096, sleep=0), lifecycle=lifecycle).run_next_job(
        "database", ["default"]
    )
    assert held == [not released]
