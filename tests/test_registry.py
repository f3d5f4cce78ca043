"""Routing jobs to Python handlers (decision 12): forms, failure hooks, knobs, unknown classes."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, laravel_fixture
from pydantic import BaseModel

from laravel_queue import handles
from laravel_queue.bus.encryption import Encrypter, parse_app_key
from laravel_queue.job import Job
from laravel_queue.payload import CommandDecodeError
from laravel_queue.php import PhpObject
from laravel_queue.registry import (
    CommandValidationError,
    JobOptions,
    Registry,
    UnknownJobError,
    default_registry,
    import_job_modules,
)

CASES = sorted(p.stem for p in (FIXTURES / "laravel" / "redis").glob("*.json"))


class PayloadOnlyJob(Job):
    """Only here to exercise the payload readers; storage operations are not under test."""

    def __init__(self, raw_body: str, *, queue: str = "default", attempt: int | None = None) -> None:
        super().__init__(raw_body=raw_body, queue=queue, connection_name="redis")
        self._attempt = attempt

    def attempts(self) -> int:
        if self._attempt is not None:
            return self._attempt
        return int(self.payload.get("attempts", 0)) + 1

    @property
    def job_id(self) -> str | None:
        return self.payload.get("id")

    def _delete_from_backend(self) -> None:
        raise AssertionError("not used")

    def _release_to_backend(self, delay: int) -> None:
        raise AssertionError("not used")


def fixture_job(driver: str, case: str) -> PayloadOnlyJob:
    fixture = laravel_fixture(f"{driver}/{case}.json")
    attempt = None if driver == "redis" else fixture["db_row_without_payload"]["attempts"] + 1
    return PayloadOnlyJob(fixture["raw_payload"], queue=fixture["queue"], attempt=attempt)


EXPECTED_NAMES = {
    "queued_listener": "App\\Listeners\\SendShipmentNotification",
    "queued_notification": "App\\Notifications\\InvoicePaid",
    "queued_mailable": "App\\Mail\\HarnessMail",
    "closure": "Illuminate\\Queue\\CallQueuedClosure",
    "string_job": "App\\Handlers\\RawHandler",
    "raw_push": "App\\Handlers\\RawHandler",
}


@pytest.mark.parametrize("driver", ["redis", "sqlite"])
@pytest.mark.parametrize("case", CASES)
def test_every_fixture_job_finds_its_handler_and_reads_laravels_fields(driver: str, case: str) -> None:
    fixture = laravel_fixture(f"{driver}/{case}.json")
    payload = json.loads(fixture["raw_payload"])
    registry = Registry()
    seen: list[tuple[Job, Any]] = []
    name = registry.resolve_name(payload)
    expected = EXPECTED_NAMES.get(case, payload.get("data", {}).get("commandName"))
    assert name == expected
    registry.register(name, lambda job, command: seen.append((job, command)))
    job = fixture_job(driver, case)
    encrypter = Encrypter(parse_app_key(fixture["environment"]["app_key"]))
    prepared = registry.prepare(job, encrypter=encrypter)
    prepared.handle()
    [(handled_job, command)] = seen
    assert handled_job is job
    if payload["job"].startswith("Illuminate\\Queue\\CallQueuedHandler"):
        assert isinstance(command, PhpObject) and command.class_name == payload["data"]["commandName"]
    else:
        assert command == payload["data"]
    assert job.attempts() == 1
    assert job.queue == fixture["queue"]
    assert job.uuid == payload["uuid"]
    assert job.max_tries == payload["maxTries"]
    assert job.timeout == payload["timeout"]
    assert job.backoff == (
        payload["backoff"]
        if payload.get("backoff") is not None
        else None
        if payload.get("delay") is None
        else str(payload["delay"])
    )


def test_laravels_knob_values_come_through_the_handle() -> None:
    job = fixture_job("redis", "retry_options")
    assert (job.max_tries, job.max_exceptions, job.backoff, job.timeout, job.fail_on_timeout) == (
        5,
        2,
        "1,5,10",
        30,
        True,
    )
    delayed = fixture_job("redis", "delayed")
    assert delayed.backoff == "60"  # 12.11+: the dispatch delay is the fallback backoff
    listener = fixture_job("sqlite", "queued_listener")
    assert (listener.max_tries, listener.backoff) == (3, "15")
    until = fixture_job("redis", "retry_until")
    assert until.retry_until == 1795420835 and until.display_name == "custom-display-name"


HANDLED: list[Any] = []


class ScalarsCommand(BaseModel):
    name: str
    count: int
    ratio: float

    def handle(self, job: Job) -> None:
        HANDLED.append((self.name, self.count, job.attempts()))


def test_a_model_class_is_validated_from_the_command_properties() -> None:
    registry = Registry()
    registry.register("App\\Jobs\\PlainScalarsJob", ScalarsCommand)
    HANDLED.clear()
    prepared = registry.prepare(fixture_job("redis", "plain_scalars"))
    assert isinstance(prepared.instance, ScalarsCommand) and prepared.instance.ratio == 0.1
    prepared.handle()
    assert HANDLED == [('héllo wörld "quoted" \\ slash / ünïcode ✓', 42, 1)]


def test_a_command_that_does_not_fit_the_model_names_the_field() -> None:
    class Strict(BaseModel):
        count: str
        missing_field: int

        def handle(self) -> None: ...

    registry = Registry()
    registry.register("App\\Jobs\\PlainScalarsJob", Strict)
    with pytest.raises(CommandValidationError) as caught:
        registry.prepare(fixture_job("redis", "plain_scalars"))
    message = str(caught.value)
    assert "App\\Jobs\\PlainScalarsJob" in message and "count" in message and "missing_field" in message
    assert "héllo" not in message  # input values are not echoed (they may be secret)


@dataclass
class ShipmentListener:
    orderId: int
    carrier: str
    calls: int = 0

    def handle(self) -> None:
        self.calls += 1

    def failed(self, exc: BaseException | None) -> None:
        FAILURES.append(("class", self.orderId, str(exc)))


FAILURES: list[Any] = []


def test_wrappers_route_by_inner_class_and_a_dataclass_sees_the_wrapped_object() -> None:
    registry = Registry()
    registry.register("App\\Listeners\\SendShipmentNotification", ShipmentListener)
    prepared = registry.prepare(fixture_job("redis", "queued_listener"))
    assert isinstance(prepared.command, PhpObject)
    assert prepared.command.class_name == "Illuminate\\Events\\CallQueuedListener"
    assert prepared.instance == ShipmentListener(orderId=1001, carrier="DHL")
    prepared.handle()
    assert prepared.instance.calls == 1
    FAILURES.clear()
    prepared.failed(RuntimeError("boom"))
    assert FAILURES == [("class", 1001, "boom")]


def test_a_handler_for_the_wrapper_class_itself_also_matches() -> None:
    registry = Registry()
    registry.register("Illuminate\\Notifications\\SendQueuedNotifications", lambda job, cmd: None)
    prepared = registry.prepare(fixture_job("sqlite", "queued_notification"))
    assert prepared.command.notification.amount == 99.95


def test_function_failed_hooks_by_keyword_and_by_decorator() -> None:
    registry = Registry()
    calls: list[Any] = []
    registry.handles("App\\Jobs\\UniqueJob", failed=lambda exc: calls.append(("kw", str(exc))))(lambda job, cmd: None)
    registry.prepare(fixture_job("redis", "unique")).failed(ValueError("x"))

    on_chain = registry.handles("App\\Jobs\\ChainStepJob")

    @on_chain
    def run(job: Job, command: Any) -> None: ...

    @on_chain.failed
    def failed(job: Job, command: Any, exc: BaseException | None) -> None:
        calls.append(("decorated", command.step, str(exc)))

    registry.prepare(fixture_job("redis", "chain")).failed(RuntimeError("y"))
    assert calls == [("kw", "x"), ("decorated", 1, "y")]

    registry.register("App\\Jobs\\BatchItemJob", lambda job, cmd: None)
    registry.prepare(fixture_job("redis", "batch")).failed(None)  # no hook: nothing happens

    with pytest.raises(TypeError, match="failed hook"):
        registry.handles("X", failed=lambda a, b: None)


def test_an_unknown_job_is_reported_before_its_command_is_decoded() -> None:
    registry = Registry()
    broken = {
        "uuid": "u",
        "job": "Illuminate\\Queue\\CallQueuedHandler@call",
        "displayName": "App\\Jobs\\Nobody",
        "data": {"commandName": "App\\Jobs\\Nobody", "command": "O:99:garbage"},
    }
    with pytest.raises(UnknownJobError) as caught:
        registry.prepare(PayloadOnlyJob(json.dumps(broken)))
    assert "App\\Jobs\\Nobody" in str(caught.value) and "@handles" in str(caught.value)
    registry.register("App\\Jobs\\Nobody", lambda job, cmd: None)
    with pytest.raises(CommandDecodeError, match="offset"):
        registry.prepare(PayloadOnlyJob(json.dumps(broken)))


def test_string_jobs_match_class_and_method_or_the_whole_class() -> None:
    registry = Registry()
    got: list[Any] = []
    registry.register("App\\Handlers\\RawHandler@other", lambda job, data: got.append("other"))
    with pytest.raises(UnknownJobError):
        registry.prepare(fixture_job("redis", "string_job"))
    registry.register("App\\Handlers\\RawHandler", lambda job, data: got.append(("any", data)))
    registry.prepare(fixture_job("redis", "string_job")).handle()
    registry.register("App\\Handlers\\RawHandler", lambda job, data: got.append("handle"), method="handle")
    registry.prepare(fixture_job("redis", "string_job")).handle()
    assert got == [("any", {"order": 5, "items": ["a", "b"]}), "handle"]


def test_declared_knobs_are_kept_on_the_registration() -> None:
    registry = Registry()
    registration = registry.handles("App\\Jobs\\RetryUntilJob", tries=3, backoff=[1, 5], retry_until=3600)
    registration(lambda job, cmd: None)
    prepared = registry.prepare(fixture_job("redis", "retry_until"))
    assert prepared.handler.options == JobOptions(tries=3, backoff=[1, 5], retry_until=3600)
    with pytest.raises(TypeError):
        registry.handles("X", not_a_knob=1)


def test_a_dispatch_only_model_is_not_treated_as_a_handler() -> None:
    class OnlyForDispatch(BaseModel):
        step: int

    registry = Registry()
    registry.register("App\\Jobs\\ChainStepJob", OnlyForDispatch)
    with pytest.raises(UnknownJobError, match="dispatching only"):
        registry.prepare(fixture_job("redis", "chain"))
    with pytest.raises(TypeError, match="pydantic BaseModel or a dataclass"):
        registry.register("X", type("Plain", (), {"handle": lambda self: None}))


def test_the_decorator_registers_in_the_default_registry() -> None:
    @handles("App\\Jobs\\DefaultRegistryProbe", tries=2)
    def probe(job: Job, command: Any) -> None: ...

    try:
        registration = default_registry.get("App\\Jobs\\DefaultRegistryProbe")
        assert registration is not None and registration.target is probe
        assert registration.options.tries == 2
    finally:
        default_registry.unregister("App\\Jobs\\DefaultRegistryProbe")


def test_import_job_modules_imports_user_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "user_jobs_probe.py").write_text(
        "from laravel_queue import handles\n"
        "@handles('App\\\\Jobs\\\\ImportedProbe')\n"
        "def run(job, command):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        modules = import_job_modules("user_jobs_probe, ")
        assert [m.__name__ for m in modules] == ["user_jobs_probe"]
        assert "App\\Jobs\\ImportedProbe" in default_registry
    finally:
        default_registry.unregister("App\\Jobs\\ImportedProbe")
        sys.modules.pop("user_jobs_probe", None)
    with pytest.raises(ImportError, match="no_such_module_xyz"):
        import_job_modules("no_such_module_xyz")
