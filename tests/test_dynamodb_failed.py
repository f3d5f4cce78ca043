"""DynamoDbFailedJobProvider against a real moto server over HTTP, items shaped as Laravel's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.drivers.sqs import aws_client
from laravel_queue.failed.dynamodb import (
    RETENTION_SECONDS,
    DynamoDbFailedJobError,
    DynamoDbFailedJobProvider,
)

try:
    from tests.conftest import laravel_fixture
except ImportError:  # tests/ run as a plain directory (no __init__.py)
    from conftest import laravel_fixture  # type: ignore[no-redef]

PAYLOAD: str = laravel_fixture("sqlite/plain_scalars.json")["raw_payload"]
PAYLOAD_UUID: str = json.loads(PAYLOAD)["uuid"]
EXCEPTION = "RuntimeException: boom in /app/Jobs/PlainScalarsJob.php:21\nStack trace:\n#0 {main}"
QUEUE_URL = "http://127.0.0.1/123456789012/default"
T0 = 1_800_000_000


def payload_with_uuid(job_uuid: str) -> str:
    decoded = json.loads(PAYLOAD)
    decoded["uuid"] = job_uuid
    return json.dumps(decoded, ensure_ascii=False, separators=(",", ":"))


class Clock:
    """A settable time source, so records get known failure times without sleeping."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dynamo(aws_env: dict[str, str]) -> Iterator[Any]:
    client = aws_client(
        "dynamodb",
        region=aws_env["AWS_DEFAULT_REGION"],
        key=SecretStr(aws_env["AWS_ACCESS_KEY_ID"]),
        secret=SecretStr(aws_env["AWS_SECRET_ACCESS_KEY"]),
        endpoint=aws_env["DYNAMODB_ENDPOINT"],
    )
    yield client
    client.close()


@pytest.fixture
def table(dynamo: Any) -> Iterator[str]:
    """A fresh table with Laravel's documented key schema (application, uuid)."""
    name = f"failed_jobs_{uuid.uuid4().hex[:10]}"
    dynamo.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "application", "KeyType": "HASH"},
            {"AttributeName": "uuid", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "application", "AttributeType": "S"},
            {"AttributeName": "uuid", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    dynamo.delete_table(TableName=name)


@pytest.fixture
def make_provider(aws_env: dict[str, str], table: str) -> Iterator[Callable[..., DynamoDbFailedJobProvider]]:
    """Providers built through Connections/settings, one per application name."""
    opened: list[Connections] = []

    def make(app_name: str = "Laravel", timezone: str = "Europe/Amsterdam") -> DynamoDbFailedJobProvider:
        env = {
            **aws_env,
            "APP_NAME": app_name,
            "APP_TIMEZONE": timezone,
            "QUEUE_FAILED_DRIVER": "dynamodb",
            "QUEUE_FAILED_TABLE": table,
        }
        conns = Connections(load_settings(environ=env))
        opened.append(conns)
        provider = DynamoDbFailedJobProvider.from_config(conns)
        provider.clock = Clock(T0)
        return provider

    yield make
    for conns in opened:
        conns.close()


def test_log_writes_the_item_laravel_writes(
    make_provider: Callable[..., DynamoDbFailedJobProvider], dynamo: Any, table: str
) -> None:
    provider = make_provider()
    assert provider.log("sqs", QUEUE_URL, PAYLOAD, EXCEPTION) == PAYLOAD_UUID
    item = dynamo.get_item(TableName=table, Key={"application": {"S": "Laravel"}, "uuid": {"S": PAYLOAD_UUID}})["Item"]
    assert item == {
        "application": {"S": "Laravel"},
        "uuid": {"S": PAYLOAD_UUID},
        "connection": {"S": "sqs"},
        "queue": {"S": QUEUE_URL},
        "payload": {"S": PAYLOAD},
        "exception": {"S": EXCEPTION},
        "failed_at": {"N": str(T0)},
        "expires_at": {"N": str(T0 + 7 * 24 * 3600)},
    }
    assert RETENTION_SECONDS == 604_800


def test_find_reads_back_with_failed_at_in_app_timezone(make_provider: Callable[..., Any]) -> None:
    provider = make_provider(timezone="Europe/Amsterdam")
    provider.log("sqs", QUEUE_URL, PAYLOAD, EXCEPTION)
    record = provider.find(PAYLOAD_UUID)
    assert record is not None
    assert (record.id, record.uuid, record.connection, record.queue) == (PAYLOAD_UUID, PAYLOAD_UUID, "sqs", QUEUE_URL)
    assert record.payload == PAYLOAD and record.exception == EXCEPTION
    assert record.failed_at == datetime.fromtimestamp(T0, timezone.utc)
    assert record.failed_at.tzinfo == ZoneInfo("Europe/Amsterdam")
    assert record.failed_at.strftime("%Y-%m-%d %H:%M:%S") == "2027-01-15 09:00:00"
    assert provider.find("no-such-uuid") is None


def test_reads_items_written_by_php(make_provider: Callable[..., Any], dynamo: Any, table: str) -> None:
    """An item exactly as Laravel's provider puts it is listed, found and forgotten."""
    dynamo.put_item(
        TableName=table,
        Item={
            "application": {"S": "Laravel"},
            "uuid": {"S": "9b1d2c3e-0000-4000-8000-000000000001"},
            "connection": {"S": "sqs"},
            "queue": {"S": QUEUE_URL},
            "payload": {"S": PAYLOAD},
            "exception": {"S": EXCEPTION},
            "failed_at": {"N": str(T0 - 60)},
            "expires_at": {"N": str(T0 - 60 + 604_800)},
        },
    )
    provider = make_provider()
    [record] = provider.all()
    assert record.id == "9b1d2c3e-0000-4000-8000-000000000001"
    assert record.failed_at.timestamp() == T0 - 60
    assert provider.ids(QUEUE_URL) == [record.id]
    assert provider.ids("other") == []
    assert provider.forget(record.id) is True
    assert provider.forget(record.id) is False
    assert provider.all() == []


def test_all_is_newest_first_and_scoped_to_the_application(make_provider: Callable[..., Any]) -> None:
    ours, theirs = make_provider("Laravel"), make_provider("Other App")
    ids = []
    for offset in (0, 300, 120):
        ours.clock.now = T0 + offset
        ids.append(ours.log("sqs", QUEUE_URL, payload_with_uuid(str(uuid.uuid4())), EXCEPTION))
    theirs.log("sqs", QUEUE_URL, payload_with_uuid(str(uuid.uuid4())), EXCEPTION)
    assert [job.id for job in ours.all()] == [ids[1], ids[2], ids[0]]
    assert len(theirs.all()) == 1
    assert ours.find(theirs.all()[0].id) is None


def test_flush_deletes_everything_or_only_older_records(make_provider: Callable[..., Any]) -> None:
    provider, other_app = make_provider(), make_provider("Other App")
    other_app.log("sqs", QUEUE_URL, payload_with_uuid(str(uuid.uuid4())), EXCEPTION)
    for hours_ago in (0, 1, 5, 30):
        provider.clock.now = T0 - hours_ago * 3600
        provider.log("sqs", QUEUE_URL, payload_with_uuid(str(uuid.uuid4())), EXCEPTION)
    provider.clock.now = T0
    assert provider.flush(hours=2) == 2
    assert sorted(int(T0 - job.failed_at.timestamp()) for job in provider.all()) == [0, 3600]
    assert provider.flush() == 2
    assert provider.all() == []
    assert len(other_app.all()) == 1


def test_prune_deletes_records_failed_before_the_moment(make_provider: Callable[..., Any]) -> None:
    provider = make_provider(timezone="Europe/Amsterdam")
    for minutes_ago in (0, 10, 20):
        provider.clock.now = T0 - minutes_ago * 60
        provider.log("sqs", QUEUE_URL, payload_with_uuid(str(uuid.uuid4())), EXCEPTION)
    cutoff = datetime.fromtimestamp(T0 - 10 * 60, timezone.utc)
    assert provider.prune(cutoff) == 1
    naive_local = datetime.fromtimestamp(T0, ZoneInfo("Europe/Amsterdam")).replace(tzinfo=None)
    assert provider.prune(naive_local) == 1  # naive = app timezone; the one at T0 is not "before"
    assert [job.failed_at.timestamp() for job in provider.all()] == [T0]


def test_flush_deletes_more_than_one_write_batch(make_provider: Callable[..., Any], dynamo: Any, table: str) -> None:
    provider = make_provider()
    requests = [
        {
            "PutRequest": {
                "Item": {
                    **provider._key(str(uuid.uuid4())),
                    "connection": {"S": "sqs"},
                    "queue": {"S": QUEUE_URL},
                    "payload": {"S": PAYLOAD},
                    "exception": {"S": EXCEPTION},
                    "failed_at": {"N": str(T0)},
                    "expires_at": {"N": str(T0 + RETENTION_SECONDS)},
                }
            }
        }
        for _ in range(60)
    ]
    for start in range(0, len(requests), 25):
        dynamo.batch_write_item(RequestItems={table: requests[start : start + 25]})
    assert len(provider.all()) == 60
    assert provider.flush() == 60
    assert provider.all() == []


def test_payload_without_uuid_still_gets_recorded(make_provider: Callable[..., Any]) -> None:
    provider = make_provider()
    job_id = provider.log("sqs", QUEUE_URL, "not json at all", EXCEPTION)
    uuid.UUID(job_id)
    record = provider.find(job_id)
    assert record is not None and record.payload == "not json at all"


def test_missing_table_is_a_clear_error(make_provider: Callable[..., Any], aws_env: dict[str, str]) -> None:
    provider = make_provider()
    provider.table = "no_such_table"
    with pytest.raises(DynamoDbFailedJobError) as info:
        provider.log("sqs", QUEUE_URL, PAYLOAD, EXCEPTION)
    assert info.value.code == "ResourceNotFoundException"
    assert "no_such_table" in str(info.value) and "PutItem" in str(info.value)
    assert aws_env["AWS_SECRET_ACCESS_KEY"] not in str(info.value)
