"""queue:failed, retry, forget, flush, prune-failed and retry-batch against real stores.

Failed records are written as Laravel's worker writes them (the captured rows), the
commands run through the real CLI, and the assertions read what PHP would read: the
Redis list / `jobs` rows the retry produced, byte for byte against the captures.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, laravel_fixture

from laravel_queue.cli import app
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.ops.retry import RetryError, as_php_array, job_name, retry_payload, unique_ids
from laravel_queue.schema import migrate

runner = CliRunner()


# -- helpers ------------------------------------------------------------------------------------


def captured_retry_push() -> str:
    """The payload artisan's `queue:retry all` pushed in the Redis capture (last EVAL argument)."""
    lines = (FIXTURES / "laravel/redis-monitor/10-queue-retry-all.txt").read_bytes().decode("latin-1").splitlines()
    return monitor_args(next(line for line in lines if '"EVAL"' in line))[-1]


def monitor_args(line: str) -> list[str]:
    """The quoted arguments of a `redis-cli MONITOR` line (read as latin-1), unescaped to text."""
    args = []
    for quoted in re.findall(r'"((?:[^"\\]|\\.)*)"', line):
        raw = re.sub(
            r"\\(x[0-9a-fA-F]{2}|.)",
            lambda m: (
                chr(int(m.group(1)[1:], 16))
                if m.group(1)[0] == "x"
                else {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b"}.get(m.group(1), m.group(1))
            ),
            quoted,
        )
        args.append(raw.encode("latin-1").decode("utf-8"))
    return args


def mysql_literal(text: str) -> str:
    """A MariaDB general-log string literal's content, unescaped."""
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t", "0": "\0"}.get(m.group(1), m.group(1)), text)


def invoke(env: dict[str, str], *args: str, input: str | None = None) -> Any:
    result = runner.invoke(app, list(args), env=env, input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def insert_failed(
    conns: Connections,
    *,
    uuid: str | None,
    connection: str,
    queue: str,
    payload: str,
    failed_at: datetime | None = None,
    exception: str = "RuntimeException: boom in x.php:1",
) -> None:
    db = conns.db()
    when = (failed_at or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S")
    columns = ["connection", "queue", "payload", "exception", "failed_at"]
    values: list[Any] = [connection, queue, payload, exception, when]
    if uuid is not None:
        columns.insert(0, "uuid")
        values.insert(0, uuid)
    names = ", ".join(db.quote_identifier(c) for c in columns)
    db.execute(f"insert into {db.table('failed_jobs')} ({names}) values ({', '.join('?' * len(values))})", values)


@pytest.fixture
def redis_sqlite_env(redis_env: dict[str, str], sqlite_env: dict[str, str], redis_client: Any) -> dict[str, str]:
    """Redis queue + cache, failed_jobs and job_batches on SQLite: the capture's `redis-queue_sqlite` setup."""
    return {**sqlite_env, **redis_env, "APP_ENV": "local"}


def connections_for(env: dict[str, str], *, failed_uuids: bool = True) -> Connections:
    conns = Connections(load_settings(environ=env))
    migrate(conns.db(), failed_uuids=failed_uuids)
    return conns


@pytest.fixture
def redis_conns(redis_sqlite_env: dict[str, str]) -> Iterator[Connections]:
    conns = connections_for(redis_sqlite_env)
    yield conns
    conns.close()


def redis_list(conns: Connections, queue: str = "default") -> list[str]:
    redis_queue = conns.queue("redis")
    return [item.decode() for item in redis_queue.client.lrange(redis_queue.keys(queue).queue, 0, -1)]


# -- the payload rules ------------------------------------------------------------------------------


def test_retry_payload_of_laravel_retry_all_capture_is_identical() -> None:
    pushed = captured_retry_push()
    assert json.loads(pushed)["attempts"] == 0
    assert retry_payload(pushed) == pushed


def test_retry_payload_resets_attempts_only_when_set() -> None:
    assert json.loads(retry_payload('{"uuid":"u","attempts":3,"id":"x"}'))["attempts"] == 0
    assert retry_payload('{"uuid":"u","attempts":null}') == '{"uuid":"u","attempts":null}'
    assert "attempts" not in json.loads(retry_payload('{"uuid":"u"}'))


@pytest.mark.parametrize(
    "raw",
    [
        '{"uuid":"a","data":{"x":"héllo ✓ / \\"q\\""},"attempts":2}',
        '{"uuid":"b","tags":{},"list":{"0":"x","1":"y"},"sparse":{"1":"x"},"keys":{"007":1,"-5":2,"-0":3}}',
        '{"uuid":"c","big":12345678901234567890,"f":1.0,"e":1e25,"neg":-0.0,"small":1e-7}',
        '{"uuid":"d","emoji":"\\ud83d\\ude00","ctl":"\\u0001\\n\\t","sep":"\\u2028"}',
    ],
)
def test_retry_payload_matches_php_json_roundtrip(php: str, raw: str) -> None:
    script = '$p = json_decode(stream_get_contents(STDIN), true); if (isset($p["attempts"])) { $p["attempts"] = 0; }'
    script += " echo json_encode($p);"
    expected = subprocess.run([php, "-r", script], input=raw.encode(), capture_output=True, check=True).stdout
    assert retry_payload(raw) == expected.decode()


def test_retry_payload_rejects_what_php_would_push_as_null() -> None:
    for bad in ("not json", "[1,2]", '"text"', '{"bad":"\\ud800"}'):
        with pytest.raises(RetryError):
            retry_payload(bad)


def test_php_array_shapes() -> None:
    assert as_php_array({}) == []
    assert as_php_array({"0": "a", "1": {"x": {}}}) == ["a", {"x": []}]
    assert as_php_array({"1": "a"}) == {"1": "a"}


def test_job_name_follows_queue_failed() -> None:
    string_job = laravel_fixture("redis/string_job.json")["raw_payload"]
    assert job_name(string_job) == "App\\Handlers\\RawHandler@handle"
    row = laravel_fixture("failed_jobs/redis-queue_sqlite-failed-store.json")["failed_job_single"][0]
    assert job_name(row["payload"]) == "App\\Jobs\\ControlledJob"
    no_display = (
        '{"job":"Illuminate\\\\Queue\\\\CallQueuedHandler@call","data":{"command":"O:8:\\"App\\\\Foo\\":0:{}"}}'
    )
    assert job_name(no_display) == "App\\Foo"
    assert job_name("garbage") == ""


def test_unique_ids_drops_duplicates_and_php_falsy_values() -> None:
    assert unique_ids(["b", "a", "b", "0", "", 3, "3"]) == ["b", "a", 3]


# -- queue:retry -----------------------------------------------------------------------------------


def test_retry_all_redis_pushes_the_captured_bytes(redis_sqlite_env: dict[str, str], redis_conns: Connections) -> None:
    pushed = captured_retry_push()
    uuid = json.loads(pushed)["uuid"]
    insert_failed(redis_conns, uuid=uuid, connection="redis", queue="default", payload=pushed)

    result = invoke(redis_sqlite_env, "queue:retry", "all")

    assert result.exit_code == 0, result.output
    assert "INFO  Pushing failed queue jobs back onto the queue." in result.stdout
    assert re.search(rf"  {uuid} \.+ [\d.]+ms DONE", result.stdout)
    assert redis_list(redis_conns) == [pushed]  # byte for byte what artisan pushed
    assert redis_conns.queue("redis").client.llen(redis_conns.queue("redis").keys("default").notify) == 1
    assert redis_conns.failed().all() == []


def test_retry_all_redis_python_built_payload_matches_reverse_check(
    redis_sqlite_env: dict[str, str], redis_conns: Connections
) -> None:
    checks = laravel_fixture("reverse-check/results.json")["results"]
    failed = next(c for c in checks if c["check"].startswith("redis: failing Python-built"))["failed_jobs_rows"][0]
    retried = next(c for c in checks if c["check"].startswith("redis: queue:retry all"))["retried_raw_payload"]
    insert_failed(redis_conns, uuid=failed["uuid"], connection="redis", queue="default", payload=failed["payload"])

    result = invoke(redis_sqlite_env, "queue:retry", "all")

    assert result.exit_code == 0, result.output
    assert redis_list(redis_conns) == [retried]


def test_retry_resets_attempts_and_keeps_the_uuid(redis_sqlite_env: dict[str, str], redis_conns: Connections) -> None:
    row = laravel_fixture("failed_jobs/redis-queue_sqlite-failed-store.json")["failed_job_single"][0]
    payload = json.loads(row["payload"])
    payload["attempts"] = 4
    raw = json.dumps(payload, separators=(",", ":"))
    insert_failed(redis_conns, uuid=row["uuid"], connection="redis", queue="emails", payload=raw)

    result = invoke(redis_sqlite_env, "queue:retry", row["uuid"])

    assert result.exit_code == 0, result.output
    (item,) = redis_list(redis_conns, "emails")
    retried = json.loads(item)
    assert retried["attempts"] == 0 and retried["uuid"] == row["uuid"] and retried["id"] == payload["id"]
    job = redis_conns.queue("redis").pop("emails")
    assert job is not None and job.attempts() == 1 and job.uuid == row["uuid"]


@pytest.mark.parametrize("engine", ["sqlite", "mariadb"])
def test_retry_all_database_queue_matches_general_log(request: pytest.FixtureRequest, engine: str) -> None:
    env = {**request.getfixturevalue("sqlite_env" if engine == "sqlite" else "mysql_env"), "APP_ENV": "local"}
    log = (FIXTURES / f"laravel/db-general-log/{engine}-09-queue-retry-all.txt").read_text()
    if engine == "sqlite":
        insert_line = next(line for line in log.splitlines() if 'insert into "jobs"' in line)
        bindings = json.loads(insert_line.split("bindings=", 1)[1])
        captured_queue, captured_attempts, captured_reserved, payload = (
            bindings[0],
            bindings[1],
            bindings[2],
            bindings[5],
        )
    else:
        match = re.search(r"Execute\tinsert into `jobs` .* values \('(\w+)', (\d+), NULL, \d+, \d+, '(.*)'\)", log)
        assert match
        captured_queue, captured_attempts, captured_reserved = match.group(1), int(match.group(2)), None
        payload = mysql_literal(match.group(3))
    uuid = json.loads(payload)["uuid"]
    conns = connections_for(env)
    try:
        insert_failed(conns, uuid=uuid, connection="database", queue="default", payload=payload)
        before = int(time.time())
        result = invoke(env, "queue:retry", "all")
        assert result.exit_code == 0, result.output
        db = conns.db()
        (row,) = db.fetch_all(f"select * from {db.table('jobs')}")
        assert row["queue"] == captured_queue and row["attempts"] == captured_attempts
        assert row["reserved_at"] is captured_reserved
        assert before <= row["available_at"] == row["created_at"] <= int(time.time())
        assert row["payload"] == payload  # what artisan inserted, byte for byte
        assert conns.failed().all() == []
    finally:
        conns.close()


def test_retry_by_id_range_and_queue_on_the_legacy_provider(sqlite_env: dict[str, str]) -> None:
    env = {**sqlite_env, "APP_ENV": "local", "QUEUE_FAILED_DRIVER": "database"}
    conns = connections_for(env, failed_uuids=False)
    try:
        for n in range(1, 7):
            body = json.dumps({"uuid": f"u{n}", "displayName": "Tests\\Job", "job": "Tests\\Job@handle", "data": n})
            insert_failed(
                conns, uuid=None, connection="database", queue="emails" if n == 6 else "default", payload=body
            )

        result = invoke(env, "queue:retry", "5", "--range=2-3", "--range=bad")
        assert result.exit_code == 0, result.output
        assert sorted(json.loads(r["payload"])["data"] for r in conns.db().fetch_all("select payload from jobs")) == [
            2,
            3,
            5,
        ]
        assert sorted(record.id for record in conns.failed().all()) == [1, 4, 6]

        result = invoke(env, "queue:retry", "1", "--queue=emails")  # --queue wins over ids, as in artisan
        assert result.exit_code == 0, result.output
        assert sorted(record.id for record in conns.failed().all()) == [1, 4]
        rows = conns.db().fetch_all("select queue, payload from jobs where queue = 'emails'")
        assert [json.loads(r["payload"])["data"] for r in rows] == [6]

        result = invoke(env, "queue:retry", "--queue=nope")
        assert "Unable to find failed jobs for queue [nope]." in result.stdout
        assert "No retryable jobs found." in result.stdout and result.exit_code == 0
    finally:
        conns.close()


def test_retry_reports_missing_ids_and_keeps_unpushable_records(
    redis_sqlite_env: dict[str, str], redis_conns: Connections
) -> None:
    insert_failed(redis_conns, uuid="bad-json", connection="redis", queue="default", payload="{not json")
    insert_failed(redis_conns, uuid="no-conn", connection="nowhere", queue="default", payload='{"uuid":"no-conn"}')
    good = json.dumps({"uuid": "good", "job": "Tests\\Job@handle", "data": None, "id": "x", "attempts": 1})
    insert_failed(redis_conns, uuid="good", connection="redis", queue="default", payload=good)

    result = invoke(redis_sqlite_env, "queue:retry", "missing", "bad-json", "no-conn", "good")

    assert result.exit_code == 1
    assert "ERROR  Unable to find failed job with ID [missing]." in result.stdout
    assert "Could not retry [bad-json]: the stored payload is not valid JSON" in result.stdout
    assert "Could not retry [no-conn]: queue connection [nowhere] is not configured" in result.stdout
    assert re.search(r"  good \.+ [\d.]+ms DONE", result.stdout)
    assert sorted(record.id for record in redis_conns.failed().all()) == ["bad-json", "no-conn"]
    assert [json.loads(item)["uuid"] for item in redis_list(redis_conns)] == ["good"]
    assert "Retried 1 of 4 failed jobs" in result.stderr


def test_retry_to_sqs_uses_the_recorded_queue_url(aws_env: dict[str, str], sqlite_env: dict[str, str]) -> None:
    import boto3

    env = {**sqlite_env, **aws_env, "APP_ENV": "local", "QUEUE_CONNECTION": "sqs"}
    sqs = boto3.client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=aws_env["SQS_ENDPOINT"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )
    url = sqs.create_queue(QueueName=f"retry-{int(time.time() * 1000)}")["QueueUrl"]
    conns = connections_for(env)
    try:
        body = json.dumps({"uuid": "sqs-1", "displayName": "Tests\\Job", "job": "Tests\\Job@handle", "data": "é"})
        insert_failed(conns, uuid="sqs-1", connection="sqs", queue=url, payload=body)
        result = invoke(env, "queue:retry", "all")
        assert result.exit_code == 0, result.output
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        assert [m["Body"] for m in messages] == [retry_payload(body)]
        assert "\\u00e9" in messages[0]["Body"]
    finally:
        conns.close()


# -- queue:retry-batch ---------------------------------------------------------------------------


def test_retry_batch_pushes_the_batch_failures(redis_sqlite_env: dict[str, str], redis_conns: Connections) -> None:
    capture = laravel_fixture("failed_jobs/redis-queue_sqlite-failed-store.json")["batch_after_processing"]
    (batch,) = capture["job_batches"]
    (failed,) = capture["failed_jobs"]
    db = redis_conns.db()
    columns = list(batch)
    db.execute(
        f"insert into job_batches ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
        [batch[c] for c in columns],
    )
    db.execute(
        "insert into job_batches (id, name, total_jobs, pending_jobs, failed_jobs, failed_job_ids, created_at)"
        " values ('clean', 'x', 1, 0, 0, '[]', 1)"
    )
    insert_failed(redis_conns, uuid=failed["uuid"], connection="redis", queue="default", payload=failed["payload"])

    result = invoke(redis_sqlite_env, "queue:retry-batch", batch["id"])
    assert result.exit_code == 0, result.output
    assert f"Pushing failed queue jobs of the batch [{batch['id']}] back onto the queue." in result.stdout
    assert redis_list(redis_conns) == [retry_payload(failed["payload"])]
    assert redis_conns.failed().all() == []

    result = invoke(redis_sqlite_env, "queue:retry-batch", "nope", "clean")
    assert result.exit_code == 1
    assert "Unable to find a batch with ID [nope]." in result.stdout
    assert "The given batch does not contain any failed jobs." in result.stdout


# -- listing, forgetting, flushing, pruning ---------------------------------------------------------


def test_failed_lists_records_as_table_and_json(redis_sqlite_env: dict[str, str], redis_conns: Connections) -> None:
    assert "No failed jobs found." in invoke(redis_sqlite_env, "queue:failed").stdout
    assert invoke(redis_sqlite_env, "queue:failed", "--json").stdout.strip() == "[]"
    row = laravel_fixture("failed_jobs/redis-queue_sqlite-failed-store.json")["failed_job_single"][0]
    insert_failed(
        redis_conns,
        uuid=row["uuid"],
        connection="redis",
        queue="default",
        payload=row["payload"],
        failed_at=datetime(2026, 11, 23, 7, 3, 29, tzinfo=timezone.utc),
    )

    table = invoke(redis_sqlite_env, "queue:failed")
    assert table.exit_code == 0
    assert re.search(rf"  2026-11-23 07:03:29 {row['uuid']} \.* ?redis@default App\\Jobs\\ControlledJob", table.stdout)

    listed = json.loads(invoke(redis_sqlite_env, "queue:failed", "--json").stdout)
    assert listed == [
        {
            "id": row["uuid"],
            "connection": "redis",
            "queue": "default",
            "class": "App\\Jobs\\ControlledJob",
            "failed_at": "2026-11-23 07:03:29",
        }
    ]


def test_forget_deletes_one_record(redis_sqlite_env: dict[str, str], redis_conns: Connections) -> None:
    insert_failed(redis_conns, uuid="a", connection="redis", queue="default", payload='{"uuid":"a"}')
    insert_failed(redis_conns, uuid="b", connection="redis", queue="default", payload='{"uuid":"b"}')
    result = invoke(redis_sqlite_env, "queue:forget", "a")
    assert result.exit_code == 0 and "Failed job deleted successfully." in result.stdout
    result = invoke(redis_sqlite_env, "queue:forget", "a")
    assert result.exit_code == 1 and "No failed job matches the given ID." in result.stdout
    assert [record.id for record in redis_conns.failed().all()] == ["b"]


def test_flush_all_or_older_than_hours(redis_sqlite_env: dict[str, str], redis_conns: Connections) -> None:
    now = datetime.now(timezone.utc)
    for uuid, age in (("old", 50), ("mid", 30), ("new", 1)):
        insert_failed(
            redis_conns,
            uuid=uuid,
            connection="redis",
            queue="default",
            payload="{}",
            failed_at=now - timedelta(hours=age),
        )
    result = invoke(redis_sqlite_env, "queue:flush", "--hours=48")
    assert "All jobs that failed more than 48 hours ago have been deleted successfully." in result.stdout
    assert sorted(record.id for record in redis_conns.failed().all()) == ["mid", "new"]
    assert "Deleted 1 failed jobs" in result.stderr
    result = invoke(redis_sqlite_env, "queue:flush")
    assert "All failed jobs deleted successfully." in result.stdout
    assert redis_conns.failed().all() == []


def test_prune_failed_keeps_the_last_24_hours_by_default(
    redis_sqlite_env: dict[str, str], redis_conns: Connections
) -> None:
    now = datetime.now(timezone.utc)
    for uuid, age in (("a", 100), ("b", 25), ("c", 23), ("d", 0)):
        insert_failed(
            redis_conns,
            uuid=uuid,
            connection="redis",
            queue="default",
            payload="{}",
            failed_at=now - timedelta(hours=age),
        )
    result = invoke(redis_sqlite_env, "queue:prune-failed")
    assert result.exit_code == 0 and "2 entries deleted." in result.stdout
    assert sorted(record.id for record in redis_conns.failed().all()) == ["c", "d"]
    assert "1 entries deleted." in invoke(redis_sqlite_env, "queue:prune-failed", "--hours=1").stdout


def test_a_store_that_cannot_be_reached_is_one_clear_error(sqlite_env: dict[str, str]) -> None:
    env = {**sqlite_env, "DB_CONNECTION": "mariadb", "DB_HOST": "127.0.0.1", "DB_PORT": "1", "DB_PASSWORD": "s3cr3t"}
    result = invoke(env, "queue:failed")
    assert result.exit_code == 1
    assert "ERROR" in result.stderr and "s3cr3t" not in result.output
