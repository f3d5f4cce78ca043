"""Horizon bookkeeping on real Redis: the Python worker leaves Horizon's keyspace as Horizon's PHP workers do.

The PHP side (Horizon-prepared pushes, the dashboard's tag monitoring and Retry) is
replayed as the MONITOR transcripts in fixtures/horizon show it (tests/support/horizon.py);
the expected end state of every job is folded from the transcript of Horizon's own
workers running the same job mix (Phase 1).
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from conftest import FIXTURES, wait_for
from support import horizon as shared
from support import horizon_jobs
from support.horizon import PhpHorizon, redis_view, transcript_views

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.horizon import attach_listener, scripts
from laravel_queue.horizon.store import HorizonStore
from laravel_queue.models import MODEL_IDENTIFIER_CLASS
from laravel_queue.php import PhpObject
from laravel_queue.registry import default_registry
from laravel_queue.schema import migrate
from laravel_queue.worker import Worker, WorkerOptions
from laravel_queue.worker.lifecycle import WorkerEvents
from laravel_queue.worker.output import WorkerOutput

PHASE1 = FIXTURES / "horizon" / "horizon-monitor-1-horizon-workers.txt"
TIME = re.compile(r"^\d{10}(\.\d{1,4})?$")
USER_1 = PhpObject(MODEL_IDENTIFIER_CLASS, {"class": "App\\Models\\User", "id": 1, "relations": [],
                                            "connection": "sqlite", "collectionClass": None})
assert horizon_jobs.controlled is not None  # registers the handlers on the default registry

hprefix, env, conns = shared.hprefix, shared.env, shared.conns  # the shared fixtures


@pytest.fixture
def php(conns: Connections, redis_client: Any, hprefix: str) -> PhpHorizon:
    return PhpHorizon(conns, redis_client, hprefix)


def work_until_empty(conns: Connections, flag: bool | None = None, timeout: float = 20) -> None:
    """A worker with tries=2 and Horizon bookkeeping, run until nothing is queued, delayed or reserved."""
    events = WorkerEvents()
    attach_listener(events, conns, conns.settings, flag)
    worker = Worker(
        conns, registry=default_registry,
        options=WorkerOptions(memory=4096, sleep=0, stop_when_empty=True, max_tries=2, backoff="0"),
        output=WorkerOutput(io.StringIO()), events=events,
    )

    def drained() -> bool:
        worker.daemon(None, ["default"])
        return conns.queue().size() == 0

    wait_for(drained, timeout=timeout, interval=0.2, what="queue drained")


def counts(client: Any, hprefix: str) -> dict[str, int]:
    return {name: client.zcard(hprefix + name) for name in
            ("recent_jobs", "pending_jobs", "completed_jobs", "failed_jobs", "recent_failed_jobs", "silenced_jobs")}


def test_python_worker_leaves_every_job_as_horizons_own_workers_did(
    conns: Connections, php: PhpHorizon, redis_client: Any, hprefix: str
) -> None:
    """Phase 1's 8 jobs (ok x3, fail, fail-first, delayed-ok, monitored model, release), tries=2."""
    ids: dict[str, list[str]] = {}
    controlled = "App\\Jobs\\ControlledJob"
    ids["ok x3"] = [php.push(controlled, {"mode": "ok", "tag": str(n)}) for n in range(3)]
    ids["fail x1"] = [php.push(controlled, {"mode": "fail", "tag": "0"})]
    ids["fail-first x1"] = [php.push(controlled, {"mode": "fail-first", "tag": "0"})]
    ids["delayed-ok x1"] = [php.push(controlled, {"mode": "ok", "tag": "0", "delay": 1}, delay=1)]
    php.monitor("App\\Models\\User:1")
    ids["eloquent_model x1"] = [php.push("App\\Jobs\\ModelJob", {"user": USER_1}, tags=["App\\Models\\User:1"])]
    ids["release x1"] = [php.push(controlled, {"mode": "release", "tag": "0"})]

    work_until_empty(conns)

    expected = transcript_views(PHASE1, "dispatch ok x3", "end-of-dispatches")
    assert sorted(expected.jobs) == sorted(ids)
    for label, views in expected.jobs.items():
        for view, job_id in zip(views, ids[label], strict=True):
            assert redis_view(redis_client, hprefix, job_id) == view, label
    for key, throughput in expected.throughput.items():
        assert int(redis_client.hget(hprefix + key, "throughput")) == throughput, key
    assert {m.decode() for m in redis_client.smembers(hprefix + "measured_jobs")} == {
        hprefix + key for key in expected.throughput if key.startswith("job:")}
    assert redis_client.smembers(hprefix + "measured_queues") == {f"{hprefix}queue:default".encode()}
    for tag, members in expected.tag_members.items():
        assert redis_client.zcard(hprefix + tag) == members
    assert counts(redis_client, hprefix) == {"recent_jobs": 8, "pending_jobs": 0, "completed_jobs": 6,
                                             "failed_jobs": 2, "recent_failed_jobs": 2, "silenced_jobs": 0}


def test_values_have_horizons_formats_and_lifetimes(
    conns: Connections, php: PhpHorizon, redis_client: Any, hprefix: str
) -> None:
    ok = php.push("App\\Jobs\\ControlledJob", {"mode": "ok", "tag": "0"})
    failed = php.push("App\\Jobs\\ControlledJob", {"mode": "fail", "tag": "0"}, tags=["batch:7"])
    work_until_empty(conns)

    done = {k.decode(): v.decode() for k, v in redis_client.hgetall(hprefix + ok).items()}
    assert all(TIME.match(done[name]) for name in ("created_at", "updated_at", "reserved_at", "completed_at"))
    assert json.loads(done["payload"])["attempts"] == 1  # the reserved copy, as Horizon stores it
    assert 3590 < redis_client.ttl(hprefix + ok) <= 3600  # trim.completed
    score = redis_client.zscore(hprefix + "completed_jobs", ok)
    assert score < 0 and abs(score + float(done["completed_at"])) < 1  # newest first: -now

    record = {k.decode(): v.decode() for k, v in redis_client.hgetall(hprefix + failed).items()}
    assert record["status"] == "failed" and json.loads(record["payload"])["attempts"] == 2
    assert record["exception"].startswith("RuntimeError: ControlledJob 0 failed on attempt 2 in ")
    assert "\nStack trace:\n#0 " in record["exception"] and record["context"] == ""
    assert 10080 * 60 - 10 < redis_client.ttl(hprefix + failed) <= 10080 * 60  # trim.failed
    assert redis_client.zscore(hprefix + "failed:batch:7", failed) > 0  # failed tag list, positive score
    assert 10080 * 60 - 10 < redis_client.ttl(hprefix + "failed:batch:7") <= 10080 * 60
    runtime = float(redis_client.hget(hprefix + "queue:default", "runtime"))
    assert 0 <= runtime < 5000 and int(redis_client.hget(hprefix + "queue:default", "throughput")) == 1


def test_horizon_retry_of_a_python_failure_updates_the_parents_retried_by(
    conns: Connections, php: PhpHorizon, redis_client: Any, hprefix: str
) -> None:
    """Phase 5: the dashboard's Retry of a failed job; the retry's fate lands on the parent."""
    first = php.push("App\\Jobs\\ControlledJob", {"mode": "fail", "tag": "0"})
    second = php.push("App\\Jobs\\ControlledJob", {"mode": "fixed-after-retry", "tag": "r2"})
    work_until_empty(conns)
    retry_fails, retry_completes = php.retry(first), php.retry(second)
    horizon_jobs.FIXED.add("r2")
    try:
        work_until_empty(conns)
    finally:
        horizon_jobs.FIXED.discard("r2")

    for parent, retry, status in ((first, retry_fails, "failed"), (second, retry_completes, "completed")):
        retried_by = redis_client.hget(hprefix + parent, "retried_by").decode()
        assert re.fullmatch(rf'\[\{{"id":"{retry}","status":"{status}","retried_at":\d+\}}\]', retried_by)
        assert redis_client.hget(hprefix + retry, "status").decode() == status
    assert counts(redis_client, hprefix)["pending_jobs"] == 0


def test_silenced_job_goes_to_the_silenced_list_and_still_counts_in_metrics(
    conns: Connections, php: PhpHorizon, redis_client: Any, hprefix: str
) -> None:
    job_id = php.push("App\\Jobs\\ControlledJob", {"mode": "ok", "tag": "0"}, silenced=True)
    work_until_empty(conns)
    assert redis_client.zscore(hprefix + "silenced_jobs", job_id) is not None
    assert counts(redis_client, hprefix)["completed_jobs"] == 0
    assert redis_client.hget(hprefix + job_id, "status") == b"completed"
    assert redis_client.hget(hprefix + "queue:default", "throughput") == b"1"


def test_a_failing_horizon_write_is_logged_and_never_changes_the_jobs_fate(
    conns: Connections, php: PhpHorizon, redis_client: Any, hprefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = php.push("App\\Jobs\\ControlledJob", {"mode": "ok", "tag": "0"})
    redis_client.delete(hprefix + "pending_jobs")
    redis_client.set(hprefix + "pending_jobs", "not a sorted set")  # every completion script now errors
    work_until_empty(conns)
    assert conns.queue().size() == 0
    assert conns.failed().all() == []
    assert redis_client.hget(hprefix + job_id, "status") == b"reserved"
    assert any("Horizon bookkeeping for job" in r.getMessage() for r in caplog.records)


def test_off_writes_nothing_and_payload_mode_tracks_only_horizon_payloads(
    env: dict[str, str], redis_client: Any, hprefix: str
) -> None:
    settings = load_settings(environ={k: v for k, v in env.items() if k != "HORIZON_PREFIX"})
    conns = Connections(settings)
    try:
        migrate(conns.db())
        php = PhpHorizon(conns, redis_client, "laravel_horizon:")  # payload mode: Horizon's default prefix
        horizon_job = php.push("App\\Jobs\\ControlledJob", {"mode": "ok", "tag": "0"})
        plain = conns.queue()
        plain.push_raw(json.dumps({"uuid": "plain-1", "displayName": "App\\Jobs\\ControlledJob", "attempts": 0,
                                   "job": "Illuminate\\Queue\\CallQueuedHandler@call", "data": {
                                       "commandName": "App\\Jobs\\ControlledJob",
                                       "command": 'O:22:"App\\Jobs\\ControlledJob":2:{s:4:"mode";s:2:"ok";'
                                                  's:3:"tag";s:1:"1";}'}}), "default")
        work_until_empty(conns)
        assert redis_client.hget("laravel_horizon:" + horizon_job, "status") == b"completed"
        assert not redis_client.exists("laravel_horizon:plain-1")
        off = php.push("App\\Jobs\\ControlledJob", {"mode": "ok", "tag": "2"})
        work_until_empty(conns, flag=False)
        assert redis_client.hget("laravel_horizon:" + off, "status") == b"pending"
    finally:
        keys = list(redis_client.scan_iter(match="laravel_horizon:*"))
        if keys:
            redis_client.delete(*keys)
        conns.close()


def test_the_reserved_write_is_seen_at_once_and_its_reply_read_with_the_next_write(
    redis_client: Any, hprefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = HorizonStore(redis_client, hprefix, {"completed": 60, "monitored": 10080})
    try:
        store.reserved("job-1", "{}")
        wait_for(lambda: redis_client.hget(hprefix + "job-1", "status") == b"reserved", what="reserved write")
        redis_client.set(hprefix + "job-2", "a string, not a hash")
        store.reserved("job-2", "{}")  # its error reply is read (and logged) with the next write
        store.released("job-1", "{}")
        assert redis_client.hget(hprefix + "job-1", "status") == b"pending"
        assert any("WRONGTYPE" in record.getMessage() for record in caplog.records)
        unique = scripts.PUSHED + f"\n-- {hprefix}"  # a script Redis has never seen: NOSCRIPT, load, retry
        keys = [hprefix + name for name in ("job-3", "recent_jobs", "pending_jobs", "monitoring")]
        store._script(unique, keys, ["job-3", "1", "-1", 2**31, "redis", "default", "N", "{}", hprefix])
        assert redis_client.hget(hprefix + "job-3", "status") == b"pending"
    finally:
        store.close()
