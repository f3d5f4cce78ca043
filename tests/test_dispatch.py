"""Dispatching from Python: envelopes equal to Laravel's, stored by the real drivers, read by PHP."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest
from click.testing import CliRunner
from conftest import ROOT, laravel_fixture
from pydantic import BaseModel, Field

from laravel_queue.bus.encryption import Encrypter, parse_app_key
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.dispatch import Command, DispatchError, Private, Protected, command_payload, dispatch, push_raw
from laravel_queue.models import ModelIdentifier
from laravel_queue.payload import decode_command, php_json_encode, string_job_payload
from laravel_queue.php import PhpEnum, PhpObject, loads
from laravel_queue.registry import JobOptions, Registry

RANDOM_FIELDS = ("uuid", "createdAt", "id")
CHECK_SCRIPT = ROOT / "php-fixtures" / "dispatch_check.php"


def expected_envelope(driver: str, case: str) -> dict[str, Any]:
    return json.loads(laravel_fixture(f"{driver}/{case}.json")["raw_payload"])


def assert_same_envelope(built: dict[str, Any], expected: dict[str, Any]) -> None:
    """Field for field and in Laravel's order; only random values and times may differ."""
    assert list(built) == list(expected)
    for key, value in expected.items():
        if key in RANDOM_FIELDS:
            continue
        if key == "retryUntil" and value is not None:
            assert abs(built[key] - int(time.time()) - 3600) <= 2
            continue
        assert built[key] == value, key


def fixture_properties(case: str) -> dict[str, Any]:
    command = decode_command(expected_envelope("sqlite", case))
    return {str(k): v for k, v in command.to_dict().items()}


@pytest.mark.parametrize(
    "case", ["plain_scalars", "nested_arrays", "backed_enums", "carbon_dates", "collection", "unique"]
)
def test_commands_from_properties_give_laravels_envelope(case: str) -> None:
    expected = expected_envelope("sqlite", case)
    expected.pop("illuminate:log:context", None)  # unique locks are taken by PHP's dispatcher (not here)
    built = command_payload(Command(expected["data"]["commandName"], fixture_properties(case)), registry=Registry())
    assert_same_envelope(built, expected)


def test_plain_values_written_in_python_serialize_like_php() -> None:
    command = Command(
        "App\\Jobs\\PlainScalarsJob",
        {
            "name": 'héllo wörld "quoted" \\ slash / ünïcode ✓',
            "count": 42,
            "ratio": 0.1,
            "flag": True,
            "nothing": None,
            "negative": -7,
            "big": 1.0e25,
        },
    )
    assert_same_envelope(command_payload(command, registry=Registry()), expected_envelope("sqlite", "plain_scalars"))


class VisibilityJob(BaseModel):
    """Mirrors the fixture class: only values that differ from the PHP defaults are written."""

    publicProp: str = "pub"
    protectedProp: Annotated[str, Protected] = "prot"
    privateProp: Annotated[str, Private] = "priv"
    protectedNullable: Annotated[list[Any] | None, Protected] = None
    privateInt: Annotated[int, Private] = 3


class ModelJob(BaseModel):
    model_config = {"arbitrary_types_allowed": True}

    user: ModelIdentifier
    users: ModelIdentifier
    loaded_with_relation: ModelIdentifier | None = Field(alias="loadedWithRelation")


def test_a_bound_model_writes_mangled_names_and_omits_defaults_like_serializes_models() -> None:
    registry = Registry()
    registry.register("App\\Jobs\\VisibilityJob", VisibilityJob)
    built = command_payload(VisibilityJob(privateProp="sekrit"), registry=registry)
    assert_same_envelope(built, expected_envelope("sqlite", "visibility_props"))


def test_model_identifiers_are_written_back_as_laravels_five_property_object() -> None:
    registry = Registry()
    registry.register("App\\Jobs\\ModelJob", ModelJob)
    command = ModelJob(
        user=ModelIdentifier("App\\Models\\User", 1, [], "sqlite"),
        users=ModelIdentifier("App\\Models\\User", [1, 2], [], "sqlite"),
        loadedWithRelation=None,
    )
    assert_same_envelope(command_payload(command, registry=registry), expected_envelope("sqlite", "eloquent_model"))


def test_declared_knobs_fill_what_php_computes_from_properties_and_methods() -> None:
    registry = Registry()
    registry.register(
        "App\\Jobs\\RetryOptionsJob",
        None,
        tries=5,
        max_exceptions=2,
        backoff=[1, 5, 10],
        timeout=30,
        fail_on_timeout=True,
    )
    registry.register("App\\Jobs\\RetryUntilJob", None, backoff=3, retry_until=3600, display_name="custom-display-name")
    for case in ("retry_options", "retry_until"):
        expected = expected_envelope("sqlite", case)
        built = command_payload(Command(expected["data"]["commandName"]), registry=registry)
        assert_same_envelope(built, expected)
    # a public property wins over the declaration, as `$job->tries ?? $job->tries()` does
    built = command_payload(Command("App\\Jobs\\RetryOptionsJob", {"tries": 9}), registry=registry)
    assert built["maxTries"] == 9


def test_delay_queue_and_connection_are_set_on_the_command_as_php_does() -> None:
    properties = fixture_properties("plain_scalars")
    delayed = command_payload(Command("App\\Jobs\\PlainScalarsJob", properties), delay=60, registry=Registry())
    assert_same_envelope(delayed, expected_envelope("sqlite", "delayed"))
    named = command_payload(
        Command("App\\Jobs\\PlainScalarsJob", properties), connection="database", queue="emails", registry=Registry()
    )
    assert_same_envelope(named, expected_envelope("sqlite", "named_queue_connection"))


def test_older_and_newer_laravel_versions_get_their_fields() -> None:
    old = command_payload(Command("App\\Jobs\\X", {"a": 1}), version=(10, 48), registry=Registry())
    assert "createdAt" not in old and "delay" not in old and "batchId" not in old["data"]
    new = command_payload(Command("App\\Jobs\\X", {"a": 1}), version=(13, 0), registry=Registry())
    assert list(new)[9] == "deleteWhenMissingModels" and new["deleteWhenMissingModels"] is False


def test_without_serializes_models_queueables_public_properties_are_written() -> None:
    built = command_payload(
        Command("App\\Jobs\\PlainJob", {"name": "n", "count": 1}, serializes_models=False),
        queue="q",
        registry=Registry(),
    )
    command = loads(built["data"]["command"])
    assert list(command.properties) == [
        "name",
        "count",
        "queue",
        "connection",
        "messageGroup",
        "deduplicator",
        "delay",
        "afterCommit",
        "middleware",
        "chained",
        "chainConnection",
        "chainQueue",
        "chainCatchCallbacks",
    ]
    assert command.queue == "q" and command.middleware == [] and command.connection is None


def test_an_encrypted_command_is_readable_with_the_app_key() -> None:
    fixture = laravel_fixture("redis/encrypted.json")
    encrypter = Encrypter(parse_app_key(fixture["environment"]["app_key"]))
    expected = json.loads(fixture["raw_payload"])
    command = Command("App\\Jobs\\EncryptedJob", {"secret": "card 4111-1111-1111-1111"}, should_be_encrypted=True)
    built = command_payload(command, encrypter=encrypter, registry=Registry())
    assert not built["data"]["command"].startswith("O:")
    assert decode_command(built, encrypter) == decode_command(expected, encrypter)
    with pytest.raises(DispatchError, match="no APP_KEY"):
        command_payload(command, registry=Registry())


def test_unbound_classes_and_unencodable_values_are_refused_clearly() -> None:
    class Unbound(BaseModel):
        x: int = 1

    with pytest.raises(DispatchError, match="not bound to a PHP class"):
        command_payload(Unbound(), registry=Registry())
    with pytest.raises(DispatchError, match="cannot PHP-serialize"):
        command_payload(Command("App\\Jobs\\X", {"x": object()}), registry=Registry())


def test_reverse_check_payloads_that_the_php_worker_ran_are_reproduced() -> None:
    results = laravel_fixture("reverse-check/results.json")["results"]
    accepted = [r for r in results if r.get("ok") and r.get("inserted_payload")]
    assert accepted
    for result in accepted:
        expected = json.loads(result["inserted_payload"])
        properties = decode_command(expected).to_dict()
        built = command_payload(Command(expected["data"]["commandName"], properties), registry=Registry())
        assert built["data"] == expected["data"]
        assert {k: v for k, v in built.items() if k not in RANDOM_FIELDS} == {
            k: v for k, v in expected.items() if k not in RANDOM_FIELDS
        }


# -- through the real drivers ------------------------------------------------------------------


@pytest.fixture
def redis_connections(redis_env: dict[str, str], redis_client: Any) -> Iterator[Connections]:
    connections = Connections(load_settings(environ=redis_env, env_file=None))
    yield connections
    connections.close()


@pytest.fixture
def sqlite_connections(sqlite_env: dict[str, str]) -> Iterator[Connections]:
    from laravel_queue.schema import migrate

    connections = Connections(load_settings(environ=sqlite_env, env_file=None))
    migrate(connections.db(), failed_table=None, batches_table=None, cache_table=None, lock_table=None)
    yield connections
    connections.close()


@dataclass
class ControlledJob:
    mode: str
    tag: str
    seen: list[Any] = field(default_factory=list)

    def handle(self, job: Any) -> None:
        RAN.append((self.mode, self.tag, job.attempts(), job.queue))


RAN: list[Any] = []


def test_dispatch_to_redis_stores_laravels_envelope_and_a_python_worker_runs_it(
    redis_connections: Connections, redis_client: Any, redis_prefix: str
) -> None:
    registry = Registry()
    registry.register("App\\Jobs\\ControlledJob", ControlledJob)
    job_id = dispatch(ControlledJob("ok", "py ✓"), connections=redis_connections, registry=registry)
    [raw] = redis_client.lrange(f"{redis_prefix}queues:default", 0, -1)
    stored = json.loads(raw)
    assert stored["id"] == job_id and stored["attempts"] == 0
    assert list(stored) == list(expected_envelope("redis", "plain_scalars"))
    assert "py ✓".encode() in raw and b"\\/" not in raw
    assert loads(stored["data"]["command"]) == PhpObject("App\\Jobs\\ControlledJob", {"mode": "ok", "tag": "py ✓"})

    RAN.clear()
    job = redis_connections.queue().pop()
    assert job is not None
    registry.prepare(job).handle()
    assert RAN == [("ok", "py ✓", 1, "default")]
    job.delete()


def test_dispatch_with_delay_and_queue_on_redis(
    redis_connections: Connections, redis_client: Any, redis_prefix: str
) -> None:
    before = int(time.time())
    dispatch(Command("App\\Jobs\\PlainScalarsJob", {"n": 1}), queue="emails", delay=60, connections=redis_connections)
    [(raw, score)] = redis_client.zrange(f"{redis_prefix}queues:emails:delayed", 0, -1, withscores=True)
    assert before + 60 <= score <= int(time.time()) + 60
    stored = json.loads(raw)
    assert stored["delay"] == 60 and list(stored)[-3:] == ["id", "attempts", "delay"]
    assert loads(stored["data"]["command"]).to_dict() == {"n": 1, "queue": "emails", "delay": 60}


def test_a_commands_own_queue_property_routes_it_like_phps_dispatcher(
    redis_connections: Connections, redis_client: Any, redis_prefix: str
) -> None:
    dispatch(PhpObject("App\\Jobs\\X", {"queue": "audio"}), connections=redis_connections)
    assert redis_client.llen(f"{redis_prefix}queues:audio") == 1


def test_string_jobs_for_python_native_handlers_on_redis(
    redis_connections: Connections, redis_client: Any, redis_prefix: str
) -> None:
    payload = string_job_payload("python:send-report", {"to": "a@b.c"})
    push_raw(payload, connections=redis_connections)
    [raw] = redis_client.lrange(f"{redis_prefix}queues:default", 0, -1)
    stored = json.loads(raw)
    assert list(stored) == list(expected_envelope("redis", "string_job"))
    assert stored["attempts"] == 0 and stored["data"] == {"to": "a@b.c"}
    seen: list[Any] = []
    registry = Registry()
    registry.register("python:send-report", lambda job, data: seen.append(data))
    job = redis_connections.queue().pop()
    assert job is not None
    registry.prepare(job).handle()
    assert seen == [{"to": "a@b.c"}]
    job.delete()


def test_dispatch_to_the_database_queue(sqlite_connections: Connections) -> None:
    job_id = dispatch(
        Command("App\\Jobs\\PlainScalarsJob", fixture_properties("plain_scalars")),
        connections=sqlite_connections,
        registry=Registry(),
    )
    row = sqlite_connections.db().fetch_one("select * from jobs where id = ?", (job_id,))
    assert row is not None and row["attempts"] == 0 and row["reserved_at"] is None and row["queue"] == "default"
    assert_same_envelope(json.loads(row["payload"]), expected_envelope("sqlite", "plain_scalars"))
    assert row["payload"] == php_json_encode(json.loads(row["payload"]))  # PHP's escaping (\/, raw UTF-8)


def test_cli_dispatch_prints_the_job_id(redis_env: dict[str, str], redis_client: Any, redis_prefix: str) -> None:
    from laravel_queue.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app,
        ["dispatch", "App\\Jobs\\ControlledJob", "--data", '{"mode": "ok", "tag": "cli"}', "--queue", "cli"],
        env=redis_env,
    )
    assert result.exit_code == 0, result.output
    [raw] = redis_client.lrange(f"{redis_prefix}queues:cli", 0, -1)
    assert json.loads(raw)["id"] == result.stdout.strip()
    bad = runner.invoke(app, ["dispatch", "App\\Jobs\\X", "--data", "[1"], env=redis_env)
    assert bad.exit_code == 2 and "not valid JSON" in bad.output


# -- PHP reads what Python wrote ------------------------------------------------------------------


class PythonDispatchedJob(BaseModel):
    model_config = {"arbitrary_types_allowed": True}

    title: str = "untitled"
    count: int = 0
    tags: Annotated[list[str] | None, Protected] = None
    secret: Annotated[str, Private] = "none"
    status: PhpEnum | None = None
    user: ModelIdentifier | None = None


def php_report(php: str, mode: str, stdin: str) -> Any:
    done = subprocess.run([php, str(CHECK_SCRIPT), mode], input=stdin.encode(), capture_output=True, timeout=30)
    assert done.returncode == 0 and not done.stderr, done.stderr.decode()
    return json.loads(done.stdout)


def test_php_unserializes_python_dispatched_commands_into_typed_classes(php: str) -> None:
    registry = Registry()
    registry.register("App\\Jobs\\PythonDispatchedJob", PythonDispatchedJob)
    command = PythonDispatchedJob(
        title="från Python/✓",
        count=7,
        tags=["a", "b"],
        secret="s3cret",
        status=PhpEnum("App\\Enums\\Status", "Suspended"),
        user=ModelIdentifier("App\\Models\\User", 5, [], "mysql"),
    )
    built = command_payload(command, queue="emails", registry=registry)
    report = php_report(php, "unserialize", built["data"]["command"])
    assert report["class"] == "App\\Jobs\\PythonDispatchedJob"
    props = report["props"]
    assert props["title"] == {"visibility": "public", "value": "från Python/✓"}
    assert props["count"]["value"] == 7
    assert props["tags"] == {"visibility": "protected", "value": ["a", "b"]}
    assert props["secret"] == {"visibility": "private", "value": "s3cret"}
    assert props["status"]["value"] == {"enum": "App\\Enums\\Status:Suspended"}
    assert props["user"]["value"]["class"] == "Illuminate\\Contracts\\Database\\ModelIdentifier"
    assert props["user"]["value"]["props"]["id"]["value"] == 5
    assert props["queue"]["value"] == "emails"


def test_php_decrypts_a_python_encrypted_command(php: str) -> None:
    key = os.urandom(32)
    encrypter = Encrypter(key)
    built = command_payload(
        Command("App\\Jobs\\EncryptedJob", {"secret": "card"}, should_be_encrypted=True),
        encrypter=encrypter,
        registry=Registry(),
    )
    args = {"key": base64.b64encode(key).decode(), "cipher": "aes-256-cbc", "payload": built["data"]["command"]}
    report = php_report(php, "decrypt", json.dumps(args))
    assert report["class"] == "App\\Jobs\\EncryptedJob" and report["props"]["secret"]["value"] == "card"


def test_registry_options_apply_to_commands_of_that_class() -> None:
    registry = Registry()
    registry.register("App\\Jobs\\Enc", None, options=JobOptions(should_be_encrypted=True, tries=4))
    encrypter = Encrypter(os.urandom(32))
    built = command_payload(Command("App\\Jobs\\Enc", {"a": 1}), encrypter=encrypter, registry=registry)
    assert built["maxTries"] == 4 and not built["data"]["command"].startswith("O:")
