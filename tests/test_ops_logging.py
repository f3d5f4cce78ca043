"""Job outcomes as `logging` records on `laravel_queue.jobs`: in process, as `--log-format json`
lines from a real worker, and as Sentry events through sentry-sdk's logging integration
(a real SDK posting to a local HTTP endpoint that stands in for sentry.io)."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import ROOT

from laravel_queue.connections import Connections
from laravel_queue.ops.joblog import JOBS_LOGGER, JobLog, JsonFormatter
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.registry import Registry
from laravel_queue.worker import Worker, WorkerOptions
from laravel_queue.worker.lifecycle import WorkerEvents
from laravel_queue.worker.output import WorkerOutput

CLI = str(Path(sys.executable).with_name("laravel-queue"))
FIELDS = ("uuid", "job_id", "job", "connection", "queue", "attempts", "runtime_ms", "outcome")


def push(conns: Connections, job: str, **fields: Any) -> dict[str, Any]:
    queue = conns.queue()
    payload = string_job_payload(f"{job}@handle", {"log": os.devnull})
    payload.update(fields)
    payload = queue.prepare_payload(payload)
    queue.push_raw(php_json_encode(payload), "default")
    return payload


def test_one_record_per_job_with_exc_info_and_fields(
    redis_queue_connections: Connections, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry()

    def boom(job: Any, data: Any) -> None:
        raise RuntimeError("boom")

    registry.register("Tests\\Boom", boom)
    registry.register("Tests\\Ok", lambda job, data: None)
    failed = push(redis_queue_connections, "Tests\\Boom", maxTries=1)
    released = push(redis_queue_connections, "Tests\\Boom", maxTries=3)
    ok = push(redis_queue_connections, "Tests\\Ok")
    worker = Worker(
        redis_queue_connections,
        registry=registry,
        options=WorkerOptions(memory=4096, sleep=0, stop_when_empty=True, backoff="60"),
        output=WorkerOutput(io.StringIO()),
        events=JobLog().attach(WorkerEvents()),
    )
    with caplog.at_level(logging.DEBUG, logger=JOBS_LOGGER):
        assert worker.daemon(None, ["default"]) == 0
    records = {record.uuid: record for record in caplog.records if record.name == JOBS_LOGGER}  # type: ignore[attr-defined]
    assert len(records) == 3 == len([r for r in caplog.records if r.name == JOBS_LOGGER])

    record = records[failed["uuid"]]
    assert record.levelno == logging.ERROR and record.outcome == "failed"  # type: ignore[attr-defined]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert record.getMessage() == "Tests\\Boom failed: RuntimeError: boom"
    fields = {name: getattr(record, name) for name in FIELDS}
    assert fields["job"] == "Tests\\Boom" and fields["job_id"] == failed["id"]
    assert (fields["connection"], fields["queue"], fields["attempts"]) == ("redis", "default", 1)
    assert isinstance(fields["runtime_ms"], float) and fields["runtime_ms"] >= 0

    record = records[released["uuid"]]
    assert record.levelno == logging.WARNING and record.outcome == "released_after_exception"  # type: ignore[attr-defined]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)

    record = records[ok["uuid"]]
    assert record.levelno == logging.DEBUG and record.outcome == "processed" and record.exc_info is None  # type: ignore[attr-defined]


def test_json_formatter_keeps_extra_fields_and_the_traceback() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.getLogger(JOBS_LOGGER).makeRecord(
            JOBS_LOGGER, logging.ERROR, __file__, 1, "%s failed", ("X",), sys.exc_info(), extra={"uuid": "u-1"}
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "X failed" and line["level"] == "ERROR" and line["logger"] == JOBS_LOGGER
    assert (
        line["uuid"] == "u-1" and line["exception"] == "ValueError" and line["traceback"].endswith("ValueError: bad")
    )
    assert line["time"].endswith("Z")


def work(
    env: dict[str, str], *options: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "queue:work", "redis", "--stop-when-empty", "--sleep", "0", "--jobs", *options],
        cwd=ROOT,
        env={**os.environ, **env, **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_log_format_json_writes_one_object_per_line(
    redis_queue_env: dict[str, str], redis_queue_connections: Connections
) -> None:
    failed = push(redis_queue_connections, "Tests\\Boom", maxTries=1)
    result = work(redis_queue_env, "tests.support.worker_jobs", "--log-format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]  # every line is JSON
    (record,) = [line for line in lines if line["logger"] == JOBS_LOGGER]
    assert record["level"] == "ERROR" and record["exception"] == "RuntimeError"
    assert 'raise RuntimeError("boom")' in record["traceback"]
    assert {name: record[name] for name in ("uuid", "job", "connection", "queue", "attempts", "outcome")} == {
        "uuid": failed["uuid"],
        "job": "Tests\\Boom",
        "connection": "redis",
        "queue": "default",
        "attempts": 1,
        "outcome": "failed",
    }
    assert "FAIL" in result.stdout  # the console's job lines are unchanged


def test_a_job_exception_is_one_record_on_the_console(
    redis_queue_env: dict[str, str], redis_queue_connections: Connections
) -> None:
    push(redis_queue_connections, "Tests\\Boom", maxTries=1)
    push(redis_queue_connections, "Tests\\Boom", maxTries=3)
    result = work(redis_queue_env, "tests.support.worker_jobs", "--backoff", "60")
    assert result.returncode == 0, result.stdout + result.stderr
    levels = ("DEBUG ", "INFO ", "WARNING ", "ERROR ")
    records = [line for line in result.stderr.splitlines() if line.startswith(levels)]
    assert records == [
        "ERROR Tests\\Boom failed: RuntimeError: boom",
        "WARNING Tests\\Boom raised an exception and was released: RuntimeError: boom",
    ]
    assert result.stderr.count('raise RuntimeError("boom")') == 2  # each record keeps its traceback
    assert result.stdout.count("FAIL") == 2


class _SentryIntake(BaseHTTPRequestHandler):
    """Sentry's envelope endpoint: keeps every item the SDK posts."""

    items: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        lines = body.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                self.items.append(json.loads(payload))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_sentry_example_reports_a_failed_job(
    redis_queue_env: dict[str, str], redis_queue_connections: Connections
) -> None:
    pytest.importorskip("sentry_sdk", reason="sentry-sdk is not installed (it is optional)")
    intake = HTTPServer(("127.0.0.1", 0), _SentryIntake)
    thread = threading.Thread(target=intake.serve_forever, daemon=True)
    thread.start()
    _SentryIntake.items = []
    try:
        failed = push(redis_queue_connections, "Tests\\Boom", maxTries=1)
        dsn = f"http://public@127.0.0.1:{intake.server_address[1]}/1"
        result = work(
            redis_queue_env, "tests.support.worker_jobs,examples.sentry_logging", extra_env={"SENTRY_DSN": dsn}
        )
    finally:
        intake.shutdown()
        intake.server_close()
    assert result.returncode == 0, result.stdout + result.stderr
    (event,) = [item for item in _SentryIntake.items if item.get("logger") == JOBS_LOGGER]
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError" and exception["value"] == "boom"
    assert event["tags"]["laravel.uuid"] == failed["uuid"] and event["tags"]["laravel.job"] == "Tests\\Boom"
    assert event["extra"]["queue"] == "default" and event["extra"]["attempts"] == 1
