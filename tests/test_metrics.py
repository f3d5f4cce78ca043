"""Worker metrics (prometheus_client over HTTP), /healthz, and OpenTelemetry spans, fed by real jobs on Redis.

The worker runs real string jobs from a Redis queue; the endpoint is read over a
real socket; `queue:work --metrics-port` (one process and `--concurrency 3`) and the
stuck-loop health check are exercised as subprocesses.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, free_port, wait_for
from prometheus_client import CollectorRegistry, generate_latest

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.ops.endpoint import Endpoint
from laravel_queue.ops.hooks import depth_reader
from laravel_queue.ops.metrics import QueueDepthCollector, WorkerMetrics
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.registry import Registry
from laravel_queue.worker import Worker, WorkerOptions
from laravel_queue.worker.exceptions import TimeoutExceededError
from laravel_queue.worker.lifecycle import WorkerEvents
from laravel_queue.worker.output import WorkerOutput

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? \S+$')


@pytest.fixture
def env(redis_queue_env: dict[str, str]) -> dict[str, str]:
    return redis_queue_env


@pytest.fixture
def conns(redis_queue_connections: Connections) -> Connections:
    return redis_queue_connections


def push(conns: Connections, job: str, data: Any = None, **fields: Any) -> dict[str, Any]:
    queue = conns.queue()
    payload = string_job_payload(f"{job}@handle", data)
    payload.update(fields)
    payload = queue.prepare_payload(payload)
    queue.push_raw(php_json_encode(payload), "default")
    return payload


def registry_with_outcomes() -> Registry:
    registry = Registry()

    def boom(job: Any, data: Any) -> None:
        raise RuntimeError("boom")

    registry.register("Tests\\Ok", lambda job, data: None)
    registry.register("Tests\\Boom", boom)
    registry.register("Tests\\SelfRelease", lambda job, data: job.release(30))
    return registry


def run_worker(conns: Connections, registry: Registry, events: WorkerEvents) -> None:
    worker = Worker(
        conns,
        registry=registry,
        options=WorkerOptions(memory=4096, sleep=0, stop_when_empty=True, backoff="60"),
        output=WorkerOutput(io.StringIO()),
        events=events,
    )
    assert worker.daemon(None, ["default"]) == 0


LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\\\.|[^"\\\\])*)"')


def canonical(sample: str) -> str:
    """`name{b="1",a="2"}` -> `name{a="2",b="1"}`: label order carries no meaning."""
    name, _, labels = sample.partition("{")
    if not labels:
        return name
    return name + "{" + ",".join(sorted(f'{k}="{v}"' for k, v in LABEL.findall(labels))) + "}"


class Samples(dict[str, float]):
    """Sample values keyed by canonical sample name; look-ups accept any label order."""

    def __getitem__(self, key: str) -> float:
        return super().__getitem__(canonical(key))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(canonical(key), default)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(canonical(str(key)))


def samples(text: str) -> Samples:
    values = Samples()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert SAMPLE.match(line), f"not Prometheus text format: {line!r}"
            name, value = line.rsplit(" ", 1)
            values[canonical(name)] = float(value)
    return values


def scrape(port: int) -> tuple[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.headers["Content-Type"], response.read().decode()


def test_counters_histogram_and_depth_over_http(env: dict[str, str], conns: Connections) -> None:
    settings = load_settings(environ=env)
    metrics = WorkerMetrics()
    push(conns, "Tests\\Ok")
    push(conns, "Tests\\Ok")
    push(conns, "Tests\\Boom", maxTries=3)  # released with --backoff 60
    push(conns, "Tests\\Boom", maxTries=1)  # fails for good
    push(conns, "Tests\\SelfRelease")
    run_worker(conns, registry_with_outcomes(), metrics.attach(WorkerEvents()))

    depth = QueueDepthCollector(depth_reader(settings, None, ["default"]), ttl=0)
    metrics.registry.register(depth)
    endpoint = Endpoint(metrics.registry, lambda: (True, "ok"), 0, host="127.0.0.1")
    try:
        content_type, text = scrape(endpoint.port)
    finally:
        endpoint.close()
        depth.close()

    assert content_type.startswith("text/plain")
    values = samples(text)
    where = 'connection="redis",queue="default"'
    assert values[f'laravel_queue_jobs_processed_total{{{where},job="Tests\\\\Ok"}}'] == 2
    assert values[f'laravel_queue_jobs_processed_total{{{where},job="Tests\\\\SelfRelease"}}'] == 1
    assert values[f'laravel_queue_jobs_released_total{{{where},job="Tests\\\\Boom"}}'] == 1
    assert values[f'laravel_queue_jobs_released_total{{{where},job="Tests\\\\SelfRelease"}}'] == 1
    assert values[f'laravel_queue_jobs_failed_total{{{where},job="Tests\\\\Boom"}}'] == 1
    assert not any(name.startswith("laravel_queue_jobs_timed_out_total{") for name in values)
    assert f'laravel_queue_jobs_processed_total{{{where},job="Tests\\\\Boom"}}' not in values
    assert values[f'laravel_queue_job_duration_seconds_count{{{where},job="Tests\\\\Ok"}}'] == 2
    assert values[f'laravel_queue_job_duration_seconds_bucket{{{where},job="Tests\\\\Boom",le="+Inf"}}'] == 2
    buckets = [
        v
        for k, v in values.items()
        if k.startswith('laravel_queue_job_duration_seconds_bucket{connection="redis",job="Tests\\\\Ok",le=')
    ]
    assert buckets == sorted(buckets) and buckets[-1] == 2  # cumulative
    assert values[f"laravel_queue_size{{{where}}}"] == 2  # the two released jobs wait in :delayed
    assert values[f'laravel_queue_jobs{{{where},state="delayed"}}'] == 2
    assert values[f'laravel_queue_jobs{{{where},state="pending"}}'] == 0
    assert values["laravel_queue_depth_errors_total"] == 0
    assert "# TYPE laravel_queue_job_duration_seconds histogram" in text
    assert "# TYPE laravel_queue_jobs_processed_total counter" in text


def test_a_timeout_failure_counts_as_failed_and_timed_out(conns: Connections) -> None:
    metrics = WorkerMetrics()
    push(conns, "Tests\\Slow")
    job = conns.queue().pop("default")
    assert job is not None
    metrics.on_failing(job, TimeoutExceededError.for_job(job.display_name))
    values = samples(generate_latest(metrics.registry).decode())
    labels = 'connection="redis",queue="default",job="Tests\\\\Slow"'
    assert values[f"laravel_queue_jobs_timed_out_total{{{labels}}}"] == 1
    assert values[f"laravel_queue_jobs_failed_total{{{labels}}}"] == 1


def test_depth_errors_are_counted_not_raised() -> None:
    def broken() -> list[Any]:
        raise ConnectionError("redis is down")

    registry = CollectorRegistry()
    depth = QueueDepthCollector(broken, ttl=0)
    registry.register(depth)
    try:
        assert samples(generate_latest(registry).decode())["laravel_queue_depth_errors_total"] == 1
    finally:
        depth.close()


def start_worker(env: dict[str, str], *options: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("laravel-queue")), "queue:work", "redis", *options],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=20)[0].decode()
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0].decode()


def scraped(port: int) -> Samples:
    try:
        return samples(scrape(port)[1])
    except OSError:
        return Samples()


def test_queue_work_metrics_port(env: dict[str, str], conns: Connections, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "jobs.log"
    process = start_worker(env, "--sleep", "0.1", "--jobs", "tests.support.worker_jobs", "--metrics-port", str(port))
    try:
        push(conns, "Tests\\Record", {"log": str(log), "n": 1})
        key = 'laravel_queue_jobs_processed_total{connection="redis",queue="default",job="Tests\\\\Record"}'
        assert (
            wait_for(lambda: scraped(port).get(key, 0), timeout=20, what="the worker's metrics to count the job") == 1
        )
        assert log.read_text().startswith("1 ")
    finally:
        output = stop(process)
    assert process.returncode == 0, output


def test_concurrency_children_add_up_on_one_port(env: dict[str, str], conns: Connections, tmp_path: Path) -> None:
    """Three forked children write prometheus_client's multiprocess files; the one endpoint sums them."""
    port = free_port()
    log = tmp_path / "jobs.log"
    before = set(Path(tempfile.gettempdir()).glob("laravel-queue-metrics-*"))
    jobs = 30
    process = start_worker(
        env, "--sleep", "0.1", "--jobs", "tests.support.worker_jobs", "--concurrency", "3", "--metrics-port", str(port)
    )
    key = 'laravel_queue_jobs_processed_total{connection="redis",queue="default",job="Tests\\\\Busy"}'
    try:
        wait_for(lambda: health(port)[1].startswith("ok (3 worker loops)"), timeout=30, what="three children ready")
        for n in range(jobs):  # 1.5 s of work: the children polling every 0.1 s share it
            push(conns, "Tests\\Busy", {"log": str(log), "n": n, "seconds": 0.05})
        values = wait_for(
            lambda: (v := scraped(port)).get(key) == jobs and v, timeout=60, what="all jobs counted on one scrape"
        )
        heartbeats = {name for name in values if name.startswith("laravel_queue_worker_loop_deadline_seconds{")}
        pids = {line.split(" pid=")[1].split()[0] for line in log.read_text().splitlines()}
        assert len(heartbeats) == 3, heartbeats  # one live gauge per child
        assert len(pids) > 1, "the jobs were spread over several children"
        assert len(log.read_text().splitlines()) == jobs
        assert values[key.replace("jobs_processed_total", "job_duration_seconds_count")] == jobs
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200 and response.read().decode().startswith("ok (3 worker loops)")
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    assert set(Path(tempfile.gettempdir()).glob("laravel-queue-metrics-*")) == before, "multiprocess dir removed"


def health(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def test_healthz_turns_unhealthy_when_the_loop_is_stuck(
    env: dict[str, str], conns: Connections, tmp_path: Path
) -> None:
    """--timeout 1 --sleep 0.1: the loop must turn within 1 + 0.1 + 5 s; a job without a timeout blocks it."""
    port = free_port()
    log = tmp_path / "jobs.log"
    process = start_worker(
        env, "--sleep", "0.1", "--timeout", "1", "--jobs", "tests.support.worker_jobs", "--metrics-port", str(port)
    )
    deadline = "laravel_queue_worker_loop_deadline_seconds"
    try:
        assert wait_for(lambda: health(port)[0] == 200, timeout=20, what="a healthy worker")
        first = wait_for(lambda: scraped(port).get(deadline), timeout=10, what="the heartbeat gauge")
        assert wait_for(lambda: scraped(port).get(deadline, 0) > first, timeout=10, what="the idle loop's heartbeat")
        push(conns, "Tests\\Sleep", {"log": str(log), "n": 1, "seconds": 60}, timeout=0)  # no watchdog
        wait_for(lambda: log.exists() and "start 1" in log.read_text(), timeout=10, what="the blocking job to start")
        assert health(port)[0] == 200  # within its allowance
        _, body = wait_for(lambda: (h := health(port))[0] == 503 and h, timeout=15, what="/healthz to fail")
        assert body.startswith("worker loop stuck (") and "s late" in body
    finally:
        process.kill()
        process.communicate(timeout=20)


def test_healthz_and_metrics_paths(env: dict[str, str]) -> None:
    registry = CollectorRegistry()
    endpoint = Endpoint(registry, lambda: (False, "stuck"), 0, host="127.0.0.1")
    try:
        assert health(endpoint.port) == (503, "stuck\n")
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{endpoint.port}/nope", timeout=5)
        assert missing.value.code == 404
    finally:
        endpoint.close()


# -- tracing ---------------------------------------------------------------------------------------


@pytest.fixture
def span_exporter() -> Any:
    # opentelemetry is optional (extra `otel`); the test runs wherever the SDK is installed (dev extra)
    pytest.importorskip("opentelemetry.sdk.trace", reason="opentelemetry-sdk is not installed")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, provider.get_tracer("tests")


def test_each_job_runs_inside_a_consumer_span(conns: Connections, span_exporter: Any) -> None:
    from opentelemetry.trace import SpanKind, StatusCode

    from laravel_queue.ops.tracing import JobTracer

    exporter, tracer = span_exporter
    registry = registry_with_outcomes()

    def traced(job: Any, data: Any) -> None:
        with tracer.start_as_current_span("inner work"):
            pass

    registry.register("Tests\\Traced", traced)
    ok = push(conns, "Tests\\Traced")
    bad = push(conns, "Tests\\Boom", maxTries=1)
    run_worker(conns, registry, JobTracer(tracer).attach(WorkerEvents()))

    spans = {span.name: span for span in exporter.get_finished_spans()}
    job_span, inner, failed = spans["process Tests\\Traced"], spans["inner work"], spans["process Tests\\Boom"]
    assert job_span.kind is SpanKind.CONSUMER
    assert job_span.attributes["laravel.job.uuid"] == ok["uuid"]
    assert job_span.attributes["laravel.job.class"] == "Tests\\Traced"
    assert job_span.attributes["messaging.destination.name"] == "default"
    assert job_span.attributes["laravel.job.attempt"] == 1
    assert inner.parent is not None and inner.parent.span_id == job_span.context.span_id
    assert job_span.status.status_code is not StatusCode.ERROR
    assert failed.attributes["laravel.job.uuid"] == bad["uuid"]
    assert failed.status.status_code is StatusCode.ERROR and failed.attributes["laravel.job.failed"] is True
    assert [event.name for event in failed.events] == ["job.failed", "exception"]


TRACED_JOBS_MODULE = """
import json, os
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from laravel_queue import handles


class FileExporter(SpanExporter):
    def export(self, spans):
        with open(os.environ["SPANS_FILE"], "a") as out:
            for span in spans:
                out.write(json.dumps({"name": span.name, "attributes": dict(span.attributes)}) + "\\n")
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(FileExporter()))
trace.set_tracer_provider(provider)


@handles("Tests\\\\Traced")
def traced(job, data):
    pass
"""


def test_queue_work_traces_jobs_when_the_app_configured_an_sdk(
    env: dict[str, str], conns: Connections, tmp_path: Path
) -> None:
    pytest.importorskip("opentelemetry.sdk.trace", reason="opentelemetry-sdk is not installed")
    (tmp_path / "traced_jobs.py").write_text(TRACED_JOBS_MODULE)
    spans_file = tmp_path / "spans.jsonl"
    payload = push(conns, "Tests\\Traced")
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("laravel-queue")),
            "queue:work",
            "redis",
            "--once",
            "--sleep=0",
            "--jobs",
            "traced_jobs",
        ],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(tmp_path), "SPANS_FILE": str(spans_file)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (span,) = [json.loads(line) for line in spans_file.read_text().splitlines()]
    assert span["name"] == "process Tests\\Traced"
    assert span["attributes"]["laravel.job.uuid"] == payload["uuid"]
    assert span["attributes"]["laravel.job.class"] == "Tests\\Traced"


def test_no_tracing_hooks_without_a_configured_sdk(env: dict[str, str]) -> None:
    from laravel_queue.ops.hooks import Operations
    from laravel_queue.ops.tracing import tracing_configured

    assert not tracing_configured()  # this test process never sets a global tracer provider
    with Operations(load_settings(environ=env), None, ["default"], WorkerOptions()) as operations:
        events = operations.worker_events()
    assert operations.endpoint is None and events.before == [] and events.after == []


def test_a_busy_metrics_port_is_a_clear_usage_error(env: dict[str, str]) -> None:
    import socket

    from click.testing import CliRunner

    from laravel_queue.cli import app

    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["queue:work", "redis", "--once", f"--metrics-port={port}"], env=env)
    assert result.exit_code == 2
    assert "--metrics-port" in result.output and f"cannot listen for metrics on port {port}" in result.output


def test_the_grafana_dashboard_queries_only_exported_metrics(conns: Connections) -> None:
    """examples/grafana-dashboard.json stays in step with the metric names the worker exports."""
    from laravel_queue.ops.health import LoopHeartbeat
    from laravel_queue.ops.monitor import QueueStatus

    metrics = WorkerMetrics()
    push(conns, "Tests\\Slow")
    job = conns.queue().pop("default")
    assert job is not None
    metrics.on_finished(job, "released_after_exception", 12.0, RuntimeError("x"))
    metrics.on_finished(job, "processed", 12.0, None)
    metrics.on_failing(job, TimeoutExceededError.for_job(job.display_name))
    LoopHeartbeat(WorkerOptions(), metrics.registry)
    depth = QueueDepthCollector(lambda: [QueueStatus("redis", "default", 1, 1, 0, 0, 1, False)], ttl=0)
    metrics.registry.register(depth)
    try:
        exported = {name.partition("{")[0] for name in samples(generate_latest(metrics.registry).decode())}
    finally:
        depth.close()
    dashboard = json.loads((ROOT / "examples" / "grafana-dashboard.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"laravel_queue_[a-z_]+", target["expr"])
    }
    assert len(queried) >= 10 and queried <= exported, queried - exported
