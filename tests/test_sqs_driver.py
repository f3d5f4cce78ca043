"""SqsQueue/SqsJob against a real moto server over HTTP, plus the URL and option rules."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from laravel_queue.config import ConfigError, load_settings
from laravel_queue.connections import Connections
from laravel_queue.drivers.sqs import (
    MAX_DELAY_SECONDS,
    SqsJob,
    SqsQueue,
    SqsQueueError,
    aws_client,
    build_queue_url,
    is_url,
    message_group_from_payload,
)
from laravel_queue.job import InvalidPayloadError

try:
    from tests.conftest import laravel_fixture, wait_for
except ImportError:  # tests/ run as a plain directory (no __init__.py)
    from conftest import laravel_fixture, wait_for  # type: ignore[no-redef]

PREFIX = "https://sqs.us-east-1.amazonaws.com/123456789012"
OBJECT_PAYLOAD: str = laravel_fixture("sqlite/plain_scalars.json")["raw_payload"]
STRING_PAYLOAD: str = laravel_fixture("sqlite/string_job.json")["raw_payload"]
ENCRYPTED_PAYLOAD: str = laravel_fixture("sqlite/encrypted.json")["raw_payload"]


def with_message_group(payload: str, group: str) -> str:
    """An object-job payload whose command has the Queueable `messageGroup` property set."""
    decoded = json.loads(payload)
    command = decoded["data"]["command"]
    head, _, body = command.partition(":{")
    name_part, _, count = head.rpartition(":")
    prop = f's:12:"messageGroup";s:{len(group.encode())}:"{group}";'
    decoded["data"]["command"] = f"{name_part}:{int(count) + 1}:{{{prop}{body}"
    return json.dumps(decoded, ensure_ascii=False, separators=(",", ":"))


# -- URL rules (Laravel's SqsQueue::getQueue) ----------------------------------------------------


@pytest.mark.parametrize(
    ("queue", "prefix", "suffix", "expected"),
    [
        ("default", PREFIX, "", f"{PREFIX}/default"),
        ("default", PREFIX + "/", "", f"{PREFIX}/default"),
        ("default", PREFIX + "//", "", f"{PREFIX}/default"),
        ("emails", PREFIX, "-production", f"{PREFIX}/emails-production"),
        ("emails-production", PREFIX, "-production", f"{PREFIX}/emails-production"),
        ("orders.fifo", PREFIX, "", f"{PREFIX}/orders.fifo"),
        ("orders.fifo", PREFIX, "-production", f"{PREFIX}/orders-production.fifo"),
        ("orders-production.fifo", PREFIX, "-production", f"{PREFIX}/orders-production.fifo"),
        ("https://sqs.eu-west-1.amazonaws.com/1/other", PREFIX, "-x", "https://sqs.eu-west-1.amazonaws.com/1/other"),
        (
            "http://127.0.0.1:4566/000000000000/local.fifo",
            PREFIX,
            "-x",
            "http://127.0.0.1:4566/000000000000/local.fifo",
        ),
    ],
)
def test_queue_url_follows_laravel_rules(queue: str, prefix: str, suffix: str, expected: str) -> None:
    assert build_queue_url(queue, prefix, suffix) == expected


def test_queue_url_uses_default_queue_for_none_and_empty() -> None:
    queue = SqsQueue(None, default_queue="jobs", prefix=PREFIX, suffix="-dev")
    assert queue.queue_url(None) == f"{PREFIX}/jobs-dev"
    assert queue.queue_url("") == f"{PREFIX}/jobs-dev"
    assert queue.queue_url("mail") == f"{PREFIX}/mail-dev"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://sqs.us-east-1.amazonaws.com/1/q", True),
        ("http://localhost:9324/queue/default", True),
        ("default", False),
        ("orders.fifo", False),
        ("sqs.us-east-1.amazonaws.com/1/q", False),
        ("https://", False),
        ("https://host/with space", False),
    ],
)
def test_is_url_matches_php_filter_for_queue_names(value: str, expected: bool) -> None:
    assert is_url(value) is expected


def test_fifo_is_recognised_by_name_or_resolved_url() -> None:
    assert SqsQueue(None, prefix=PREFIX).is_fifo("orders.fifo")
    assert SqsQueue(None, prefix=PREFIX, suffix=".fifo").is_fifo("orders")
    assert SqsQueue(None, prefix=PREFIX).is_fifo(f"{PREFIX}/orders.fifo")
    assert not SqsQueue(None, prefix=PREFIX).is_fifo("orders")


# -- send options (Laravel's getQueueableOptions) ------------------------------------------------


def test_message_group_is_read_from_the_serialized_command() -> None:
    assert message_group_from_payload(STRING_PAYLOAD) == (False, None)
    assert message_group_from_payload(OBJECT_PAYLOAD) == (True, None)
    assert message_group_from_payload(ENCRYPTED_PAYLOAD) == (True, None)
    assert message_group_from_payload(with_message_group(OBJECT_PAYLOAD, "tenant-ü7")) == (True, "tenant-ü7")


def test_unreadable_command_or_payload_is_a_clear_error() -> None:
    broken = json.loads(with_message_group(OBJECT_PAYLOAD, "g"))
    broken["data"]["command"] = broken["data"]["command"][:-10]
    with pytest.raises(InvalidPayloadError, match=r"data\.command"):
        message_group_from_payload(json.dumps(broken))
    with pytest.raises(InvalidPayloadError, match="JSON"):
        message_group_from_payload("{not json")


def test_standard_queue_options() -> None:
    queue = SqsQueue(None, prefix=PREFIX)
    assert queue.send_options(OBJECT_PAYLOAD, "emails", 0) == {}
    assert queue.send_options(STRING_PAYLOAD, "emails", 30) == {"DelaySeconds": 30}
    assert queue.send_options(STRING_PAYLOAD, "emails", -5) == {}
    grouped = with_message_group(OBJECT_PAYLOAD, "tenant-1")
    assert queue.send_options(grouped, "emails", 0) == {"MessageGroupId": "tenant-1"}  # fair queues
    assert queue.send_options(STRING_PAYLOAD, "emails", 0, message_group="g") == {"MessageGroupId": "g"}


def test_fifo_queue_options() -> None:
    queue = SqsQueue(None, prefix=PREFIX)
    string_options = queue.send_options(STRING_PAYLOAD, "orders.fifo", 45)
    assert "DelaySeconds" not in string_options  # FIFO queues take no per-message delay (Laravel drops it)
    assert string_options["MessageGroupId"] == "orders.fifo"
    first = uuid.UUID(string_options["MessageDeduplicationId"])
    second = uuid.UUID(queue.send_options(STRING_PAYLOAD, "orders.fifo", 0)["MessageDeduplicationId"])
    assert first != second
    grouped = with_message_group(OBJECT_PAYLOAD, "customer-9")
    assert queue.send_options(grouped, "orders.fifo", 0)["MessageGroupId"] == "customer-9"
    assert "MessageGroupId" not in queue.send_options(OBJECT_PAYLOAD, "orders.fifo", 0)  # as Laravel
    assert queue.send_options(STRING_PAYLOAD, "orders.fifo", 0, deduplication_id="order-1") == {
        "MessageGroupId": "orders.fifo",
        "MessageDeduplicationId": "order-1",
    }


def test_delay_beyond_sqs_limit_is_refused_naming_the_limit() -> None:
    queue = SqsQueue(None, prefix=PREFIX)
    assert queue.send_options(STRING_PAYLOAD, "emails", MAX_DELAY_SECONDS) == {"DelaySeconds": 900}
    with pytest.raises(SqsQueueError, match="900") as info:
        queue.send_options(STRING_PAYLOAD, "emails", MAX_DELAY_SECONDS + 1)
    assert info.value.queue_url == f"{PREFIX}/emails"


def test_wait_time_outside_sqs_range_is_a_config_error(aws_env: dict[str, str]) -> None:
    settings = load_settings(environ={**aws_env, "SQS_WAIT_TIME": "21"})
    with pytest.raises(ConfigError, match="SQS_WAIT_TIME"):
        SqsQueue.from_config(None, settings.queue.connections["sqs"])


# -- live SQS (moto server over HTTP) ------------------------------------------------------------


@pytest.fixture
def admin(aws_env: dict[str, str]) -> Iterator[Any]:
    """A plain boto3 client for creating queues and inspecting messages."""
    from pydantic import SecretStr

    client = aws_client(
        "sqs",
        region=aws_env["AWS_DEFAULT_REGION"],
        key=SecretStr(aws_env["AWS_ACCESS_KEY_ID"]),
        secret=SecretStr(aws_env["AWS_SECRET_ACCESS_KEY"]),
        endpoint=aws_env["SQS_ENDPOINT"],
    )
    yield client
    client.close()


@pytest.fixture
def make_queue(admin: Any) -> Callable[..., str]:
    """Create a uniquely named queue; returns its name (with `.fifo` for FIFO)."""

    def create(fifo: bool = False, **attributes: str) -> str:
        name = f"lq-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        if fifo:
            attributes["FifoQueue"] = "true"
        admin.create_queue(QueueName=name, Attributes=attributes)
        return name

    return create


@pytest.fixture
def connections(aws_env: dict[str, str]) -> Iterator[Connections]:
    conns = Connections(load_settings(environ={**aws_env, "QUEUE_CONNECTION": "sqs"}))
    yield conns
    conns.close()


@pytest.fixture
def sqs(connections: Connections) -> SqsQueue:
    queue = connections.queue("sqs")
    assert isinstance(queue, SqsQueue)
    return queue


def test_push_pop_delete_keeps_the_laravel_body_byte_exact(sqs: SqsQueue, make_queue: Any) -> None:
    name = make_queue()
    message_id = sqs.push_raw(OBJECT_PAYLOAD, name)
    assert sqs.size(name) == 1
    job = sqs.pop(name)
    assert isinstance(job, SqsJob)
    assert job.raw_body == OBJECT_PAYLOAD
    assert job.job_id == message_id
    assert job.queue == sqs.queue_url(name)  # what failed_jobs.queue receives
    assert job.connection_name == "sqs"
    assert job.attempts() == 1
    assert job.display_name == "App\\Jobs\\PlainScalarsJob"
    assert sqs.reserved_size(name) == 1
    job.delete()
    assert job.is_deleted()
    assert sqs.size(name) == 0
    assert sqs.pop(name) is None


def test_default_queue_comes_from_sqs_queue_setting(aws_env: dict[str, str], make_queue: Any) -> None:
    name = make_queue()
    conns = Connections(load_settings(environ={**aws_env, "SQS_QUEUE": name}))
    try:
        queue = conns.queue("sqs")
        queue.push_raw(STRING_PAYLOAD)
        job = queue.pop()
        assert job is not None and job.raw_body == STRING_PAYLOAD
        assert job.queue.endswith(f"/{name}")
    finally:
        conns.close()


def test_attempts_count_receives_and_release_makes_visible(sqs: SqsQueue, make_queue: Any) -> None:
    name = make_queue()
    sqs.push_raw(STRING_PAYLOAD, name)
    for expected in (1, 2, 3):
        job = sqs.pop(name)
        assert job is not None and job.attempts() == expected
        job.release(0)
        assert job.is_released()
    assert sqs.size(name) == 1


def test_release_with_delay_keeps_the_message_hidden(sqs: SqsQueue, make_queue: Any) -> None:
    name = make_queue()
    sqs.push_raw(STRING_PAYLOAD, name)
    job = sqs.pop(name)
    assert job is not None
    job.release(120)
    assert sqs.pop(name) is None
    assert sqs.reserved_size(name) == 1


def test_visibility_timeout_expiry_brings_the_job_back(sqs: SqsQueue, make_queue: Any) -> None:
    name = make_queue(VisibilityTimeout="1")
    sqs.push_raw(STRING_PAYLOAD, name)
    first = sqs.pop(name)
    assert first is not None and first.attempts() == 1
    assert sqs.pop(name) is None
    again = wait_for(lambda: sqs.pop(name), timeout=10, interval=0.2, what="the unacknowledged job to return")
    assert again.job_id == first.job_id
    assert again.attempts() == 2
    assert again.raw_body == STRING_PAYLOAD


def test_delayed_push_counts_as_delayed_not_pending(sqs: SqsQueue, make_queue: Any) -> None:
    name = make_queue()
    sqs.push_raw(STRING_PAYLOAD, name, delay=120)
    sqs.push_raw(STRING_PAYLOAD, name)
    assert sqs.delayed_size(name) == 1
    assert sqs.pending_size(name) == 1
    assert sqs.size(name) == 2
    job = sqs.pop(name)
    assert job is not None
    assert sqs.pop(name) is None  # the delayed one is not receivable yet


def test_too_long_delay_sends_nothing(sqs: SqsQueue, make_queue: Any) -> None:
    name = make_queue()
    with pytest.raises(SqsQueueError, match="15 minutes"):
        sqs.push_raw(STRING_PAYLOAD, name, delay=901)
    assert sqs.size(name) == 0


def test_clear_purges_and_returns_the_size_before(sqs: SqsQueue, make_queue: Any) -> None:
    name = make_queue()
    for _ in range(3):
        sqs.push_raw(STRING_PAYLOAD, name)
    assert sqs.pop(name) is not None
    assert sqs.clear(name) == 3
    assert sqs.size(name) == 0


def test_pop_carries_the_deferred_ack(sqs: SqsQueue, make_queue: Any) -> None:
    name = make_queue(VisibilityTimeout="1")
    first_id = sqs.push_raw(STRING_PAYLOAD, name)
    sqs.push_raw(OBJECT_PAYLOAD, name)
    first = sqs.pop(name)
    assert first is not None and first.job_id == first_id
    first.delete_later()
    second = sqs.pop(name, ack=first)
    assert second is not None and second.raw_body == OBJECT_PAYLOAD
    second.delete_later()
    assert sqs.pop(name, ack=second) is None  # the ack is deleted even when nothing is received
    assert sqs.size(name) == 0


def test_ack_from_another_driver_is_refused(sqs: SqsQueue, make_queue: Any) -> None:
    with pytest.raises(TypeError):
        sqs.pop(make_queue(), ack=object())  # type: ignore[arg-type]


def test_flush_acks_deletes_in_batches_across_queues(sqs: SqsQueue, make_queue: Any) -> None:
    names = [make_queue(), make_queue()]
    for name in names:
        for _ in range(11):
            sqs.push_raw(STRING_PAYLOAD, name)
    jobs = []
    for name in names:
        while (job := sqs.pop(name)) is not None:
            job.delete_later()
            jobs.append(job)
    assert len(jobs) == 22
    sqs.flush_acks(jobs)
    assert [sqs.size(name) for name in names] == [0, 0]


def test_fifo_keeps_order_and_sets_group_and_dedup(sqs: SqsQueue, make_queue: Any, admin: Any) -> None:
    name = make_queue(fifo=True)
    bodies = [STRING_PAYLOAD.replace('"order":5', f'"order":{i}') for i in range(5)]
    for body in bodies:
        sqs.push_raw(body, name, delay=30)  # the delay is dropped on FIFO queues, as in Laravel
    received = []
    while (job := sqs.pop(name)) is not None:
        received.append(job.raw_body)
        job.delete()
    assert received == bodies

    sqs.push_raw(with_message_group(OBJECT_PAYLOAD, "customer-9"), name)
    sqs.push_raw(STRING_PAYLOAD, name, deduplication_id="order-1")
    sqs.push_raw(STRING_PAYLOAD, name, deduplication_id="order-1")  # deduplicated by SQS
    response = admin.receive_message(
        QueueUrl=sqs.queue_url(name), MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )
    groups = sorted(
        (m["Attributes"]["MessageGroupId"], m["Attributes"]["MessageDeduplicationId"]) for m in response["Messages"]
    )
    assert [group for group, _ in groups] == ["customer-9", name]
    assert dict(groups)[name] == "order-1"
    uuid.UUID(dict(groups)["customer-9"])


def test_object_job_group_is_sent_to_standard_queues(sqs: SqsQueue, make_queue: Any, admin: Any) -> None:
    name = make_queue()
    sqs.push_raw(with_message_group(OBJECT_PAYLOAD, "tenant-4"), name)
    response = admin.receive_message(QueueUrl=sqs.queue_url(name), MessageSystemAttributeNames=["All"])
    assert response["Messages"][0]["Attributes"].get("MessageGroupId") == "tenant-4"


def test_object_job_without_group_on_fifo_is_rejected_clearly(sqs: SqsQueue, make_queue: Any) -> None:
    name = make_queue(fifo=True)
    with pytest.raises(SqsQueueError) as info:
        sqs.push_raw(OBJECT_PAYLOAD, name)
    assert "MessageGroupId" in str(info.value)
    assert info.value.queue_url == sqs.queue_url(name)


def test_missing_queue_is_a_clear_error_without_secrets(sqs: SqsQueue, aws_env: dict[str, str]) -> None:
    url = sqs.queue_url("does-not-exist")
    for call in (lambda: sqs.pop("does-not-exist"), lambda: sqs.push_raw(STRING_PAYLOAD, "does-not-exist")):
        with pytest.raises(SqsQueueError) as info:
            call()
        error = info.value
        assert error.queue_url == url
        assert "NonExistentQueue" in error.code
        assert url in str(error) and error.code in str(error)
        assert aws_env["AWS_SECRET_ACCESS_KEY"] not in str(error)
        assert error.__cause__ is None and error.__suppress_context__


def test_missing_credentials_is_a_clear_error(
    aws_env: dict[str, str], make_queue: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    env = {k: v for k, v in aws_env.items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")}
    settings = load_settings(environ=env)
    queue = SqsQueue.from_config(None, settings.queue.connections["sqs"])
    try:
        with pytest.raises(SqsQueueError, match="NoCredentials") as info:
            queue.push_raw(STRING_PAYLOAD, make_queue())
        assert info.value.code == "NoCredentialsError"
    finally:
        queue.close()


def test_configured_wait_time_long_polls(aws_env: dict[str, str], make_queue: Any) -> None:
    name = make_queue()
    settings = load_settings(environ={**aws_env, "SQS_WAIT_TIME": "1"})
    queue = SqsQueue.from_config(None, settings.queue.connections["sqs"])
    try:
        started = time.monotonic()
        assert queue.pop(name) is None
        assert time.monotonic() - started >= 0.9
        queue.push_raw(STRING_PAYLOAD, name)
        assert queue.pop(name) is not None
    finally:
        queue.close()


def test_release_beyond_sqs_visibility_limit_is_capped(sqs: SqsQueue, make_queue: Any) -> None:
    name = make_queue()
    sqs.push_raw(STRING_PAYLOAD, name)
    job = sqs.pop(name)
    assert job is not None
    job.release(100_000)  # AWS rejects > 43 200 s; the job stays hidden for the maximum instead
    assert sqs.pop(name) is None
    assert sqs.reserved_size(name) == 1


def test_client_retries_transient_errors_in_standard_mode(sqs: SqsQueue, aws_env: dict[str, str]) -> None:
    config = sqs.client.meta.config
    assert config.retries["mode"] == "standard"
    assert sqs.client.meta.endpoint_url == aws_env["SQS_ENDPOINT"]
    assert sqs.client.meta.region_name == "us-east-1"


def test_dead_ack_receipt_does_not_block_the_next_pop(
    sqs: SqsQueue, make_queue: Any, caplog: pytest.LogCaptureFixture
) -> None:
    name = make_queue()
    sqs.push_raw(STRING_PAYLOAD, name)
    sqs.push_raw(OBJECT_PAYLOAD, name)
    first = sqs.pop(name)
    assert first is not None
    first.receipt_handle = "not-a-receipt-sqs-would-accept"
    first.delete_later()
    second = sqs.pop(name, ack=first)
    assert second is not None and second.raw_body == OBJECT_PAYLOAD
    assert first.acked
    assert "SQS will redeliver it" in caplog.text


def test_an_ack_is_sent_once_even_if_offered_again(sqs: SqsQueue, make_queue: Any) -> None:
    name = make_queue()
    sqs.push_raw(STRING_PAYLOAD, name)
    job = sqs.pop(name)
    assert job is not None
    job.delete_later()
    assert sqs.pop(name, ack=job) is None
    sqs.push_raw(STRING_PAYLOAD, name)
    again = sqs.pop(name, ack=job)  # a worker retrying after a failed receive re-offers the same ack
    assert again is not None
    sqs.flush_acks([job])  # already deleted: nothing is sent
    assert sqs.size(name) == 1
