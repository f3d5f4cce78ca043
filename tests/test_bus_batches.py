"""Batches: job_batches bookkeeping as Laravel's DatabaseBatchRepository does it (spec §11.3)."""

from __future__ import annotations

import base64
import json
import logging
import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import laravel_fixture

from laravel_queue.bus.batches import BatchCallbacks, Batches, batch_of, unserialize_options
from laravel_queue.bus.lifecycle import BusLifecycle
from laravel_queue.bus.middleware import SKIP_IF_BATCH_CANCELLED, SkipIfBatchCancelled
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.php import PhpObject, dumps
from laravel_queue.registry import Registry
from laravel_queue.schema import migrate
from laravel_queue.worker import Worker, WorkerOptions

ITEM = "App\\Jobs\\BatchItemJob"
FIXTURE = laravel_fixture("sqlite/batch.json")
FIXTURE_ROW = FIXTURE["other_db_rows"]["job_batches"][0]
BATCH_ID = FIXTURE_ROW["id"]
ALLOW_FAILURES = 'a:1:{s:13:"allowFailures";b:1;}'
NO_OPTIONS = "a:0:{}"


def fixture_payloads() -> list[str]:
    return [FIXTURE["raw_payload"], *(job["raw_payload"] for job in FIXTURE["additional_jobs"])]


@pytest.fixture(params=["sqlite", "mariadb"])
def env(request: pytest.FixtureRequest) -> dict[str, str]:
    name = {"sqlite": "sqlite_env", "mariadb": "mysql_env"}[request.param]
    environ = dict(request.getfixturevalue(name))
    environ["CACHE_STORE"] = "array"  # the worker's restart/pause reads stay out of these tests
    return environ


@pytest.fixture
def connections(env: dict[str, str]) -> Iterator[Connections]:
    conns = Connections(load_settings(environ=env))
    migrate(conns.db())
    yield conns
    conns.close()


def insert_batch(
    conns: Connections, *, total: int, options: str | None, batch_id: str = BATCH_ID, cancelled: bool = False
) -> None:
    db = conns.db()
    db.execute(
        f"insert into {db.table('job_batches')} (id, name, total_jobs, pending_jobs, failed_jobs, failed_job_ids,"
        " options, cancelled_at, created_at, finished_at) values (?, ?, ?, ?, 0, '[]', ?, ?, ?, null)",
        (batch_id, FIXTURE_ROW["name"], total, total, options, 1795417235 if cancelled else None, 1795417235),
    )


def batch_row(conns: Connections, batch_id: str = BATCH_ID) -> dict[str, Any]:
    db = conns.db()
    row = db.fetch_one(f"select * from {db.table('job_batches')} where id = ?", (batch_id,))
    assert row is not None
    return row


def work(conns: Connections, registry: Registry, callbacks: BatchCallbacks | None = None) -> None:
    lifecycle = BusLifecycle(conns, registry=registry, batch_callbacks=callbacks)
    options = WorkerOptions(memory=4096, sleep=0, stop_when_empty=True)
    assert Worker(conns, registry=registry, options=options, lifecycle=lifecycle).daemon("database", ["default"]) == 0


def item_handler(failing: set[int], ran: list[int] | None = None) -> Any:
    def handle(job: Any, command: Any) -> None:
        if ran is not None:
            ran.append(command.item)
        if command.item in failing:
            raise RuntimeError(f"batch item {command.item} failed on purpose")

    return handle


def push(conns: Connections, payloads: list[str]) -> list[str]:
    queue = conns.queue("database")
    for raw in payloads:
        queue.push_raw(raw, "default")
    return [json.loads(raw)["uuid"] for raw in payloads]


def test_all_jobs_succeed(connections: Connections, caplog: pytest.LogCaptureFixture) -> None:
    insert_batch(connections, total=3, options=FIXTURE_ROW["options"])
    push(connections, fixture_payloads())
    registry = Registry()
    registry.register(ITEM, item_handler(set()))
    seen: list[tuple[str, int, int]] = []
    callbacks = BatchCallbacks()
    callbacks.on_batch(
        FIXTURE_ROW["name"],
        then=lambda batch: seen.append(("then", batch.pending_jobs, batch.progress())),
        finally_=lambda batch: seen.append(("finally", batch.pending_jobs, int(batch.finished()))),
        progress=lambda batch: seen.append(("progress", batch.pending_jobs, batch.progress())),
    )
    with caplog.at_level(logging.WARNING, logger="laravel_queue.bus.batches"):
        work(connections, registry, callbacks)

    row = batch_row(connections)
    assert (row["pending_jobs"], row["failed_jobs"], row["failed_job_ids"]) == (0, 0, "[]")
    assert row["finished_at"] is not None and row["cancelled_at"] is None
    assert seen == [("progress", 2, 33), ("progress", 1, 67), ("progress", 0, 100), ("then", 0, 100), ("finally", 0, 1)]
    warnings = [r for r in caplog.records if getattr(r, "laravel_queue_event", "") == "php_batch_callbacks_not_run"]
    assert [w.callbacks for w in warnings] == [{"then": 1, "finally": 1}]  # type: ignore[attr-defined]


def test_failure_with_allow_failures_matches_laravel(connections: Connections) -> None:
    """Same scenario as the captured failed_jobs fixture: 2-job batch, allowFailures, job 2 throws."""
    expected = laravel_fixture("failed_jobs/database-queue_sqlite.json")["batch_after_processing"]["job_batches"][0]
    insert_batch(connections, total=2, options=ALLOW_FAILURES)
    uuids = push(connections, fixture_payloads()[:2])
    registry = Registry()
    registry.register(ITEM, item_handler({2}))
    caught: list[str] = []
    callbacks = BatchCallbacks()
    callbacks.on_batch(
        FIXTURE_ROW["name"],
        catch=lambda batch, exc: caught.append(f"catch:{exc}"),
        failure=lambda batch, exc: caught.append(f"failure:{batch.failed_jobs}"),
        finally_=lambda batch: caught.append("finally"),
        then=lambda batch: caught.append("then"),
    )
    work(connections, registry, callbacks)

    row = batch_row(connections)
    assert row["pending_jobs"] == expected["pending_jobs"] == 1
    assert row["failed_jobs"] == expected["failed_jobs"] == 1
    assert (
        row["failed_job_ids"]
        == json.dumps([uuids[1]])
        == expected["failed_job_ids"].replace(json.loads(expected["failed_job_ids"])[0], uuids[1])
    )
    assert row["cancelled_at"] is None and row["finished_at"] is None
    assert caught == ["failure:1", "catch:batch item 2 failed on purpose", "finally"]


def test_first_failure_cancels_a_batch_that_does_not_allow_failures(connections: Connections) -> None:
    insert_batch(connections, total=3, options=NO_OPTIONS)
    uuids = push(connections, fixture_payloads())
    ran: list[int] = []
    registry = Registry()
    registry.register(ITEM, item_handler({1, 2}, ran))
    work(connections, registry)

    row = batch_row(connections)
    assert ran == [1, 2, 3]  # without SkipIfBatchCancelled the others still run
    assert (row["pending_jobs"], row["failed_jobs"]) == (2, 2)
    assert json.loads(row["failed_job_ids"]) == uuids[:2]
    assert row["cancelled_at"] is not None and row["finished_at"] == row["cancelled_at"]


def test_a_retried_failed_job_that_succeeds_leaves_failed_job_ids(connections: Connections) -> None:
    insert_batch(connections, total=1, options=ALLOW_FAILURES)
    batches = Batches(connections)
    assert batches.record_failed_job(BATCH_ID, "u1", RuntimeError("x")) is not None
    assert batches.record_failed_job(BATCH_ID, "u1", RuntimeError("x")) is not None  # deduplicated
    assert json.loads(batch_row(connections)["failed_job_ids"]) == ["u1"]
    counts = batches.record_successful_job(BATCH_ID, "u1")
    assert counts is not None and counts.pending_jobs == 0
    row = batch_row(connections)
    assert row["failed_job_ids"] == "[]" and row["finished_at"] is not None
    assert batches.record_successful_job("missing-batch", "u1") is None


def _record_many(environ: dict[str, str], kind: str, prefix: str, count: int) -> None:
    conns = Connections(load_settings(environ=environ))
    batches = Batches(conns)
    for index in range(count):
        if kind == "success":
            batches.record_successful_job(BATCH_ID, f"{prefix}-{index}")
        else:
            batches.record_failed_job(BATCH_ID, f"{prefix}-{index}", None)
    conns.close()


def test_concurrent_updates_from_several_processes_are_exact(connections: Connections, env: dict[str, str]) -> None:
    insert_batch(connections, total=60, options=ALLOW_FAILURES)
    connections.db().close()  # nothing shared across fork
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_record_many, args=(env, "success", "a", 25)),
        context.Process(target=_record_many, args=(env, "success", "b", 25)),
        context.Process(target=_record_many, args=(env, "failure", "f", 10)),
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    row = batch_row(connections)
    assert (row["pending_jobs"], row["failed_jobs"]) == (10, 10)
    assert sorted(json.loads(row["failed_job_ids"])) == sorted(f"f-{i}" for i in range(10))
    assert row["finished_at"] is None


def test_skip_if_batch_cancelled_declared_in_python(connections: Connections) -> None:
    insert_batch(connections, total=3, options=NO_OPTIONS, cancelled=True)
    push(connections, fixture_payloads())
    ran: list[int] = []
    registry = Registry()
    registry.register(ITEM, item_handler(set(), ran), middleware=(SkipIfBatchCancelled(),))
    work(connections, registry)
    assert ran == []
    row = batch_row(connections)
    assert (row["pending_jobs"], row["failed_jobs"]) == (0, 0)  # skipped jobs count as done
    assert connections.queue("database").size("default") == 0


def test_serialized_skip_middleware_and_batch_of(connections: Connections) -> None:
    from laravel_queue.dispatch import dispatch

    insert_batch(connections, total=2, options=NO_OPTIONS, cancelled=True)
    insert_batch(connections, total=1, options=NO_OPTIONS, batch_id="live-batch")
    skip = [PhpObject(SKIP_IF_BATCH_CANCELLED)]
    ran: list[tuple[int, bool]] = []

    def handle(job: Any, command: Any) -> None:
        batch = batch_of(job)
        assert batch is not None
        ran.append((command.item, batch.cancelled()))

    registry = Registry()
    registry.register(ITEM, handle)
    for item, batch_id, middleware in ((1, BATCH_ID, skip), (2, BATCH_ID, []), (3, "live-batch", skip)):
        command = PhpObject(ITEM, {"item": item, "batchId": batch_id, "middleware": middleware})
        dispatch(command, connections=connections, registry=registry, connection="database")
    work(connections, registry)
    assert ran == [(2, True), (3, False)]
    assert batch_row(connections)["pending_jobs"] == 0
    assert batch_row(connections, "live-batch")["finished_at"] is not None


# -- options column --------------------------------------------------------------------------


def test_options_are_base64_on_postgresql(pgsql_env: dict[str, str]) -> None:
    conns = Connections(load_settings(environ=pgsql_env))
    try:
        migrate(conns.db())
        encoded = base64.b64encode(FIXTURE_ROW["options"].encode()).decode()
        insert_batch(conns, total=1, options=encoded)
        batch = Batches(conns).repository.find(BATCH_ID)
        assert batch is not None and batch.allows_failures()
        assert batch.php_callbacks("then") == 1 and batch.php_callbacks("progress") == 0
    finally:
        conns.close()


def test_options_decoding_rules() -> None:
    assert unserialize_options(None, "sqlite") == {}
    assert unserialize_options(NO_OPTIONS, "mysql") == {}
    assert unserialize_options(ALLOW_FAILURES, "pgsql") == {"allowFailures": True}
    assert unserialize_options("not serialized", "mysql") == {}
    assert unserialize_options(dumps({"allowFailures": 1}).decode(), "sqlite") == {"allowFailures": 1}
