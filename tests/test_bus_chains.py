"""Chains: continuing a PHP chain from Python exactly as Laravel's Queueable does (spec §11.1)."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import laravel_fixture

from laravel_queue.bus.chains import ChainCallbacks, ChainError, next_in_chain
from laravel_queue.bus.lifecycle import BusLifecycle
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.php import PhpObject, dumps, loads
from laravel_queue.registry import Registry
from laravel_queue.worker import Worker, WorkerOptions

STEP = "App\\Jobs\\ChainStepJob"
STEP_2 = b'O:21:"App\\Jobs\\ChainStepJob":1:{s:4:"step";i:2;}'
STEP_3 = b'O:21:"App\\Jobs\\ChainStepJob":1:{s:4:"step";i:3;}'


def fixture_command(case: str) -> PhpObject:
    payload = json.loads(laravel_fixture(f"redis/{case}.json")["raw_payload"])
    command = loads(payload["data"]["command"])
    assert isinstance(command, PhpObject)
    return command


# -- building the next command (pure) --------------------------------------------------------


def test_next_command_is_what_php_queueable_writes() -> None:
    """Step 1 of the fixture chain -> step 2 with chained=[step 3] and the (empty) catch list."""
    nxt = next_in_chain(fixture_command("chain"))
    assert nxt is not None
    expected = (
        b'O:21:"App\\Jobs\\ChainStepJob":3:{s:4:"step";i:2;s:7:"chained";a:1:{i:0;s:48:"'
        + STEP_3
        + b'";}s:19:"chainCatchCallbacks";a:0:{}}'
    )
    assert dumps(nxt) == expected


def test_last_step_omits_the_empty_chain_as_serializes_models_does() -> None:
    step2 = next_in_chain(fixture_command("chain"))
    assert step2 is not None
    step3 = next_in_chain(step2)
    assert step3 is not None
    assert dumps(step3) == b'O:21:"App\\Jobs\\ChainStepJob":2:{s:4:"step";i:3;s:19:"chainCatchCallbacks";a:0:{}}'
    assert next_in_chain(step3) is None


def test_chain_connection_and_queue_fill_the_next_command_in_declared_order() -> None:
    command = PhpObject(STEP, {"step": 1, "chained": [STEP_2.decode()], "chainConnection": "redis", "chainQueue": "q2"})
    nxt = next_in_chain(command)
    assert nxt is not None
    assert list(nxt.properties) == ["step", "connection", "queue", "chainConnection", "chainQueue"]
    assert (nxt.connection, nxt.queue, nxt.chainConnection, nxt.chainQueue) == ("redis", "q2", "redis", "q2")


def test_own_queue_of_the_next_command_wins_over_chain_queue() -> None:
    own = b'O:21:"App\\Jobs\\ChainStepJob":2:{s:4:"step";i:2;s:5:"queue";s:3:"own";}'
    command = PhpObject(STEP, {"step": 1, "chained": [own.decode()], "chainQueue": "q2"})
    nxt = next_in_chain(command)
    assert nxt is not None
    assert nxt.queue == "own"
    assert list(nxt.properties) == ["step", "queue", "chainQueue"]


def test_without_serializes_models_every_property_is_kept() -> None:
    native = b'O:21:"App\\Jobs\\ChainStepJob":3:{s:4:"step";i:2;s:7:"chained";a:0:{}s:10:"chainQueue";N;}'
    command = PhpObject(STEP, {"step": 1, "chained": [native.decode()], "chainCatchCallbacks": None})
    nxt = next_in_chain(command, serializes_models=False)
    assert nxt is not None
    assert nxt.properties["chained"] == [] and "chainQueue" in nxt.properties
    assert nxt.chainCatchCallbacks is None


def test_a_corrupt_chain_element_is_a_clear_error() -> None:
    with pytest.raises(ChainError, match="not PHP serialize data"):
        next_in_chain(PhpObject(STEP, {"chained": ["garbage"]}))
    with pytest.raises(ChainError, match="not a job object"):
        next_in_chain(PhpObject(STEP, {"chained": ["i:5;"]}))


def test_php_unserializes_the_next_command(php: str) -> None:
    step2 = next_in_chain(fixture_command("chain_with_catch"))
    assert step2 is not None
    script = (
        "$o = unserialize(stream_get_contents(STDIN)); $a = (array) $o;"
        'echo json_encode(["class" => $a["__PHP_Incomplete_Class_Name"], "step" => $a["step"],'
        ' "chained" => array_map(fn ($s) => (array) unserialize($s), $a["chained"]),'
        ' "catch" => get_class($a["chainCatchCallbacks"][0])]);'
    )
    out = subprocess.run([php, "-r", script], input=dumps(step2), capture_output=True, check=True, timeout=30)
    result = json.loads(out.stdout)
    assert result["class"] == STEP and result["step"] == 2
    assert result["chained"][0]["step"] == 3
    assert result["catch"] == "__PHP_Incomplete_Class"


# -- through the real worker on Redis ---------------------------------------------------------


@pytest.fixture
def connections(redis_env: dict[str, str], redis_client: Any) -> Iterator[Connections]:
    conns = Connections(load_settings(environ={**redis_env, "QUEUE_FAILED_DRIVER": "null"}))
    yield conns
    conns.close()


def run_one(connections: Connections, registry: Registry, chain_callbacks: ChainCallbacks | None = None) -> None:
    lifecycle = BusLifecycle(connections, registry=registry, chain_callbacks=chain_callbacks)
    worker = Worker(connections, registry=registry, options=WorkerOptions(memory=4096, sleep=0), lifecycle=lifecycle)
    worker.run_next_job("redis", ["default"])


def stored(redis_client: Any, redis_prefix: str, queue: str = "default") -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in redis_client.lrange(f"{redis_prefix}queues:{queue}", 0, -1)]


def test_three_step_chain_with_a_python_middle_step(
    connections: Connections, redis_client: Any, redis_prefix: str
) -> None:
    fixture = laravel_fixture("redis/chain.json")
    original = json.loads(fixture["raw_payload"])
    ran: list[int] = []
    registry = Registry()
    registry.register(STEP, lambda job, command: ran.append(command.step))
    connections.queue("redis").push_raw(fixture["raw_payload"], "default")

    run_one(connections, registry)  # step 1 (stands in for PHP: it dispatches step 2)
    run_one(connections, registry)  # step 2 runs in Python and dispatches step 3
    assert ran == [1, 2]
    [third] = stored(redis_client, redis_prefix)

    assert third["data"]["command"] == (
        'O:21:"App\\Jobs\\ChainStepJob":2:{s:4:"step";i:3;s:19:"chainCatchCallbacks";a:0:{}}'
    )
    assert list(third) == list(original)  # Laravel's envelope, key for key and in order
    for key in (
        "displayName",
        "job",
        "maxTries",
        "maxExceptions",
        "failOnTimeout",
        "backoff",
        "timeout",
        "retryUntil",
        "delay",
        "attempts",
    ):
        assert third[key] == original[key], key
    assert third["data"]["commandName"] == STEP and third["data"]["batchId"] is None
    assert third["uuid"] != original["uuid"] and len(third["id"]) == 32

    run_one(connections, registry)
    assert ran == [1, 2, 3]
    assert stored(redis_client, redis_prefix) == []


def test_chain_goes_to_the_chain_queue(connections: Connections, redis_client: Any, redis_prefix: str) -> None:
    from laravel_queue.dispatch import dispatch

    registry = Registry()
    registry.register(STEP, lambda job, command: None)
    first = PhpObject(STEP, {"step": 1, "queue": "default", "chained": [STEP_2.decode()], "chainQueue": "second"})
    dispatch(first, connections=connections, registry=registry)
    run_one(connections, registry)
    [nxt] = stored(redis_client, redis_prefix, "second")
    command = loads(nxt["data"]["command"])
    assert command.queue == "second" and command.chainQueue == "second"


def test_failed_chain_stops_and_runs_python_catch_callbacks(
    connections: Connections, redis_client: Any, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    fixture = laravel_fixture("redis/chain_with_catch.json")
    registry = Registry()

    def fail(job: Any, command: Any) -> None:
        raise RuntimeError("step failed")

    registry.register(STEP, fail)
    caught: list[Any] = []
    callbacks = ChainCallbacks()
    callbacks.on_chain_catch(lambda exc: caught.append(exc), job_class=STEP)
    callbacks.on_chain_catch(lambda job, command, exc: caught.append(command.step))
    callbacks.on_chain_catch(lambda exc: caught.append("other"), job_class="App\\Jobs\\Other")
    connections.queue("redis").push_raw(fixture["raw_payload"], "default")

    with caplog.at_level(logging.WARNING, logger="laravel_queue.bus.chains"):
        run_one(connections, registry, callbacks)

    assert stored(redis_client, redis_prefix) == []  # the rest of the chain is dropped
    assert [str(c) if isinstance(c, Exception) else c for c in caught] == ["step failed", 1]
    [record] = [r for r in caplog.records if getattr(r, "laravel_queue_event", "") == "php_chain_catch_not_run"]
    assert record.callbacks == {"catch": 1} and record.dropped_jobs == 2  # type: ignore[attr-defined]


def test_released_job_does_not_advance_the_chain(
    connections: Connections, redis_client: Any, redis_prefix: str
) -> None:
    fixture = laravel_fixture("redis/chain.json")
    registry = Registry()
    registry.register(STEP, lambda job, command: job.release(30))
    connections.queue("redis").push_raw(fixture["raw_payload"], "default")
    run_one(connections, registry)
    assert stored(redis_client, redis_prefix) == []
    assert redis_client.zcard(f"{redis_prefix}queues:default:delayed") == 1
