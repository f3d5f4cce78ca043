"""Laravel's per-job rules (worker/policy.py) as pure functions, and the listener events.

The jobs here are real `Job` objects over Laravel-shaped payloads; only the storage
operations are inert, since the rules never touch storage.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from laravel_queue.job import Job
from laravel_queue.worker.lifecycle import OUTCOMES, WorkerEvents
from laravel_queue.worker.options import WorkerOptions
from laravel_queue.worker.policy import (
    EXIT_MEMORY_LIMIT,
    EXIT_SUCCESS,
    backoff_for,
    has_exceeded_attempts,
    max_exceptions_key,
    max_tries_for,
    reached_max_exceptions,
    stop_status,
    timeout_for,
    will_exceed_attempts,
)

NOW = 1_800_000_000.0


class PayloadJob(Job):
    """A reserved job read from a payload; storage operations are not part of the rules."""

    def __init__(self, attempts: int = 1, raw_body: str | None = None, **payload: Any) -> None:
        body = raw_body if raw_body is not None else json.dumps({"job": "Tests\\Job@handle", "uuid": "u-1", **payload})
        super().__init__(raw_body=body, queue="default", connection_name="redis")
        self._attempts = attempts

    def attempts(self) -> int:
        return self._attempts

    @property
    def job_id(self) -> str:
        return "1"

    def _delete_from_backend(self) -> None:
        raise AssertionError("the rules never delete")

    def _release_to_backend(self, delay: int) -> None:
        raise AssertionError("the rules never release")


def test_max_tries_prefers_the_job_over_the_option() -> None:
    assert max_tries_for(PayloadJob(maxTries=5), WorkerOptions(max_tries=2)) == 5
    assert max_tries_for(PayloadJob(), WorkerOptions(max_tries=2)) == 2
    assert max_tries_for(PayloadJob(maxTries=None), WorkerOptions(max_tries=0)) == 0


@pytest.mark.parametrize(
    ("attempts", "payload", "tries", "exceeded"),
    [
        (1, {}, 1, False),
        (2, {}, 1, True),
        (2, {"maxTries": 3}, 1, False),
        (4, {"maxTries": 3}, 1, True),
        (99, {}, 0, False),  # --tries=0: unlimited
        (99, {"retryUntil": int(NOW) + 1}, 1, False),  # retryUntil wins over tries
        (1, {"retryUntil": int(NOW) - 1}, 5, True),
        (1, {"retryUntil": int(NOW)}, 5, False),  # `now <= retryUntil` still runs
        (1, {"timeoutAt": int(NOW) - 1}, 5, True),  # pre-Laravel-8 name
        (2, {"retryUntil": 0}, 1, True),  # PHP: 0 is no retryUntil, tries decide
    ],
)
def test_has_exceeded_attempts(attempts: int, payload: dict[str, Any], tries: int, exceeded: bool) -> None:
    assert has_exceeded_attempts(PayloadJob(attempts, **payload), WorkerOptions(max_tries=tries), NOW) is exceeded


@pytest.mark.parametrize(
    ("attempts", "payload", "tries", "will"),
    [
        (1, {}, 1, True),
        (1, {}, 2, False),
        (2, {}, 2, True),
        (5, {}, 0, False),
        (3, {"maxTries": 3}, 1, True),
        (9, {"retryUntil": int(NOW) + 1}, 1, False),
        (1, {"retryUntil": int(NOW)}, 9, True),  # `retryUntil <= now`
    ],
)
def test_will_exceed_attempts(attempts: int, payload: dict[str, Any], tries: int, will: bool) -> None:
    assert will_exceed_attempts(PayloadJob(attempts, **payload), WorkerOptions(max_tries=tries), NOW) is will


def test_max_exceptions_rule_and_key() -> None:
    assert max_exceptions_key("abc") == "job-exceptions:abc"
    assert reached_max_exceptions(3, 3) and reached_max_exceptions(3, 4)
    assert not reached_max_exceptions(3, 2)
    assert not reached_max_exceptions(None, 10) and not reached_max_exceptions(3, None)


@pytest.mark.parametrize(
    ("attempts", "job_backoff", "option", "seconds"),
    [
        (1, None, "0", 0),
        (1, None, "7", 7),
        (1, "1,5,10", "0", 1),
        (3, "1,5,10", "0", 10),
        (9, "1,5,10", "0", 10),  # the last one repeats
        (1, "2.9", "0", 2),
        (1, "soon", "0", 0),
    ],
)
def test_backoff_for(attempts: int, job_backoff: str | None, option: str, seconds: int) -> None:
    payload = {} if job_backoff is None else {"backoff": job_backoff}
    assert backoff_for(PayloadJob(attempts, **payload), WorkerOptions(backoff=option)) == seconds


def test_backoff_for_stays_importable_from_the_worker_module() -> None:
    from laravel_queue.worker.worker import backoff_for as from_worker

    assert from_worker is backoff_for


def test_timeout_for() -> None:
    assert timeout_for(PayloadJob(timeout=5), WorkerOptions(timeout=60)) == 5
    assert timeout_for(PayloadJob(), WorkerOptions(timeout=60)) == 60
    assert timeout_for(PayloadJob(raw_body="not json"), WorkerOptions(timeout=60)) == 60


def _stop(**changes: Any) -> int | None:
    values: dict[str, Any] = {
        "should_quit": False,
        "memory_mb": 50.0,
        "memory_limit": 128,
        "restart_changed": False,
        "stop_when_empty": False,
        "found_nothing": False,
        "elapsed": 10.0,
        "max_time": 0,
        "jobs_processed": 3,
        "max_jobs": 0,
    }
    values.update(changes)
    return stop_status(**values)


def test_stop_status_first_condition_wins() -> None:
    assert _stop() is None
    assert _stop(should_quit=True, memory_mb=500) == EXIT_SUCCESS
    assert _stop(memory_mb=128, restart_changed=True) == EXIT_MEMORY_LIMIT
    assert _stop(restart_changed=True) == EXIT_SUCCESS
    assert _stop(stop_when_empty=True) is None
    assert _stop(stop_when_empty=True, found_nothing=True) == EXIT_SUCCESS
    assert _stop(max_time=10) == EXIT_SUCCESS and _stop(max_time=11) is None
    assert _stop(max_jobs=3) == EXIT_SUCCESS and _stop(max_jobs=4) is None


def test_a_raising_hook_is_logged_and_the_next_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def broken(job: Job) -> None:
        raise RuntimeError("listener bug")

    events = WorkerEvents(reserved=[broken, lambda job: calls.append("second")])
    with caplog.at_level(logging.ERROR, logger="laravel_queue.worker"):
        events.fire(events.reserved, PayloadJob())
    assert calls == ["second"]
    assert "listener bug" in caplog.text


def test_a_raising_looping_hook_does_not_pause_the_worker(caplog: pytest.LogCaptureFixture) -> None:
    events = WorkerEvents(looping=[lambda: 1 / 0])
    with caplog.at_level(logging.ERROR, logger="laravel_queue.worker"):
        assert events.should_loop() is True
    assert WorkerEvents(looping=[lambda: False]).should_loop() is False


def test_outcomes_are_the_documented_words() -> None:
    assert set(OUTCOMES) == {"processed", "released", "released_after_exception", "failed", "given_back", "deleted"}
