"""Failed-job providers (database-uuids, database, file, null) and Laravel's exception text."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, laravel_fixture

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.db import Database
from laravel_queue.failed.database import DatabaseFailedJobProvider, DatabaseUuidFailedJobProvider
from laravel_queue.failed.exception_text import format_exception
from laravel_queue.failed.file import FileFailedJobProvider, LockTimeoutError, file_cache_lock, file_cache_path
from laravel_queue.failed.null import NullFailedJobProvider
from laravel_queue.schema import migrate

T0 = 1_795_417_411  # 2026-11-23 07:03:31 UTC
FIXTURE = laravel_fixture("failed_jobs/database-queue_sqlite.json")["failed_job_single"][0]
PHP_ROW = laravel_fixture("failed_jobs/database-queue_mariadb.json")["failed_job_single"][0]


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def payload_with_uuid(uuid: str) -> str:
    return FIXTURE["payload"].replace(FIXTURE["uuid"], uuid)


@pytest.fixture
def uuid_provider(db: Database) -> DatabaseUuidFailedJobProvider:
    migrate(db, jobs_table=None, batches_table=None, cache_table=None, lock_table=None)
    return DatabaseUuidFailedJobProvider(db, "failed_jobs", clock=Clock())


def test_uuid_provider_log_writes_laravels_row(uuid_provider: DatabaseUuidFailedJobProvider) -> None:
    seen: list[tuple[str, tuple[Any, ...]]] = []
    uuid_provider.db.listen(lambda sql, params: seen.append((sql, params)))
    uuid = uuid_provider.log("database", "default", FIXTURE["payload"], FIXTURE["exception"])
    assert uuid == FIXTURE["uuid"]
    fixture_file = "mariadb" if uuid_provider.db.dialect == "mysql" else "sqlite"
    log = (FIXTURES / "laravel" / "db-general-log" / f"{fixture_file}-07-worker-once-failure-tries1.txt").read_text()
    laravel_insert = next(
        line for line in log.splitlines() if "insert into" in line and "failed_jobs" in line and "?" in line
    )
    assert seen[0][0] in laravel_insert
    assert seen[0][1] == (FIXTURE["uuid"], "database", "default", FIXTURE["payload"],
                          FIXTURE["exception"], "2026-11-23 07:03:31")
    record = uuid_provider.find(uuid)
    assert record is not None
    assert (record.id, record.uuid, record.connection, record.queue) == (uuid, uuid, "database", "default")
    assert record.payload == FIXTURE["payload"]
    assert record.exception == FIXTURE["exception"]
    assert record.failed_at == datetime(2026, 11, 23, 7, 3, 31, tzinfo=timezone.utc)


def test_uuid_provider_reads_rows_written_by_php(uuid_provider: DatabaseUuidFailedJobProvider) -> None:
    db = uuid_provider.db
    columns = ("uuid", "connection", "queue", "payload", "exception", "failed_at")
    db.execute(
        f"insert into {db.table('failed_jobs')} ({', '.join(db.quote_identifier(c) for c in columns)})"
        " values (?, ?, ?, ?, ?, ?)",
        tuple(PHP_ROW[c] for c in columns),
    )
    assert uuid_provider.ids() == [PHP_ROW["uuid"]]
    found = uuid_provider.find(PHP_ROW["uuid"])
    assert found is not None
    assert found.payload == PHP_ROW["payload"]
    assert found.failed_at.strftime("%Y-%m-%d %H:%M:%S") == PHP_ROW["failed_at"]


def test_uuid_provider_all_ids_forget_flush_prune(uuid_provider: DatabaseUuidFailedJobProvider) -> None:
    clock: Clock = uuid_provider.clock  # type: ignore[assignment]
    uuids = []
    for hour in range(4):
        clock.now = T0 + hour * 3600
        uuids.append(uuid_provider.log("redis", "default" if hour % 2 else "mail", payload_with_uuid(f"u-{hour}"), "E"))
    assert [job.id for job in uuid_provider.all()] == list(reversed(uuids))  # newest first
    assert uuid_provider.ids() == list(reversed(uuids))
    assert uuid_provider.ids("mail") == ["u-2", "u-0"]
    assert uuid_provider.forget("u-3") is True
    assert uuid_provider.forget("u-3") is False
    # now = T0+3h: flush --hours=2 removes failures at least 2 h old (T0, T0+1h)
    assert uuid_provider.flush(hours=2) == 2
    assert uuid_provider.ids() == ["u-2"]
    clock.now = T0 + 10 * 3600
    uuid_provider.log("redis", "default", payload_with_uuid("u-new"), "E")
    assert uuid_provider.prune(datetime.fromtimestamp(T0 + 5 * 3600, timezone.utc)) == 1
    assert uuid_provider.ids() == ["u-new"]
    assert uuid_provider.flush() == 1
    assert uuid_provider.all() == []


def test_prune_deletes_in_chunks(uuid_provider: DatabaseUuidFailedJobProvider) -> None:
    db = uuid_provider.db
    table = db.table("failed_jobs")
    rows = [(f"bulk-{i}", "c", "q", "{}", "e", "2020-01-01 00:00:00") for i in range(1203)]
    with db.transaction():
        for start in range(0, len(rows), 400):
            chunk = rows[start : start + 400]
            db.execute(
                f"insert into {table} (uuid, connection, queue, payload, exception, failed_at) values "
                + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk)),
                [v for row in chunk for v in row],
            )
    seen: list[str] = []
    db.listen(lambda sql, params: seen.append(sql))
    assert uuid_provider.prune(datetime(2021, 1, 1, tzinfo=timezone.utc)) == 1203
    assert len([s for s in seen if s.startswith("delete")]) == 3  # 1000 + 203 + a final empty chunk


def test_failed_at_uses_the_app_timezone(db: Database) -> None:
    migrate(db, jobs_table=None, batches_table=None, cache_table=None, lock_table=None)
    provider = DatabaseUuidFailedJobProvider(db, timezone="Europe/Amsterdam", clock=Clock())
    provider.log("database", "default", FIXTURE["payload"], "E")
    raw = db.fetch_value(f"select failed_at from {db.table('failed_jobs')}")
    assert str(raw)[:19] == "2026-11-23 08:03:31"  # UTC+1 in November
    record = provider.find(FIXTURE["uuid"])
    assert record is not None
    assert record.failed_at.timestamp() == T0


def test_uuid_provider_records_a_payload_without_uuid_under_a_new_one(
    uuid_provider: DatabaseUuidFailedJobProvider,
) -> None:
    """Laravel would crash on these and lose the job; here the record is kept, with a fresh uuid."""
    first = uuid_provider.log("database", "default", '{"job":"x"}', "E")
    second = uuid_provider.log("database", "default", "not json", "E")
    assert first != second
    assert {record.payload for record in uuid_provider.all()} == {'{"job":"x"}', "not json"}


def test_exception_text_is_stored_as_utf8(uuid_provider: DatabaseUuidFailedJobProvider) -> None:
    uuid_provider.log("database", "default", FIXTURE["payload"], "bad \udcff byte, ünïcode")
    record = uuid_provider.find(FIXTURE["uuid"])
    assert record is not None
    assert record.exception == "bad ? byte, ünïcode"


def test_legacy_provider_uses_row_ids(db: Database) -> None:
    migrate(db, jobs_table=None, batches_table=None, cache_table=None, lock_table=None, failed_uuids=False)
    provider = DatabaseFailedJobProvider(db, "failed_jobs", clock=Clock())
    first = provider.log("database", "default", FIXTURE["payload"], "E1")
    second = provider.log("database", "default", FIXTURE["payload"], "E2")
    assert (first, second) == (1, 2)
    assert provider.ids() == [2, 1]
    record = provider.find("2")
    assert record is not None
    assert (record.id, record.uuid, record.exception) == (2, None, "E2")
    assert provider.forget(1) is True
    assert [job.id for job in provider.all()] == [2]
    with pytest.raises(ValueError, match="must be an integer"):
        provider.find("abc")


# -- file provider ------------------------------------------------------------------------------


def test_file_provider_writes_laravels_json(tmp_path: Path, php: str) -> None:
    path = tmp_path / "storage" / "framework" / "cache" / "failed-jobs.json"
    provider = FileFailedJobProvider(path, limit=2, lock_directory=tmp_path / "locks", clock=Clock())
    provider.log("database", "default", payload_with_uuid("first"), "E1 é/")
    provider.clock.now += 1  # type: ignore[attr-defined]
    provider.log("database", "default", payload_with_uuid("second"), "E2")
    provider.clock.now += 1  # type: ignore[attr-defined]
    provider.log("sqs", "https://sqs/q", payload_with_uuid("third"), "E3")
    entries = json.loads(path.read_text())
    assert [e["id"] for e in entries] == ["third", "second"]  # newest first, cut to the limit
    assert entries[0] == {
        "id": "third", "connection": "sqs", "queue": "https://sqs/q", "payload": payload_with_uuid("third"),
        "exception": "E3", "failed_at": "2026-11-23 07:03:33", "failed_at_timestamp": T0 + 2,
    }
    # byte-exact with PHP's json_encode(JSON_PRETTY_PRINT) of the same array
    php_text = subprocess.run(
        [php, "-r", "echo json_encode(json_decode(file_get_contents($argv[1]), true), JSON_PRETTY_PRINT);",
         str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    assert path.read_text() == php_text
    assert not file_cache_path(tmp_path / "locks", "laravel-failed-jobs").exists()  # lock released


def test_file_provider_find_forget_prune(tmp_path: Path) -> None:
    provider = FileFailedJobProvider(tmp_path / "f.json", clock=Clock())
    for i in range(3):
        provider.clock.now = T0 + i * 3600  # type: ignore[attr-defined]
        provider.log("database", "default", payload_with_uuid(f"j{i}"), f"E{i}")
    assert provider.ids() == ["j2", "j1", "j0"]
    found = provider.find("j1")
    assert found is not None
    assert found.failed_at == datetime.fromtimestamp(T0 + 3600, timezone.utc)
    assert provider.forget("j1") is True
    assert provider.forget("j1") is False
    assert provider.flush(hours=1) == 1  # now = T0+2h: j0 failed 2 h ago
    assert provider.ids() == ["j2"]
    assert provider.prune(datetime.fromtimestamp(T0 + 2 * 3600, timezone.utc)) == 1  # `<=` in the file provider
    assert provider.all() == []


def test_file_provider_tolerates_missing_or_garbage_file(tmp_path: Path) -> None:
    provider = FileFailedJobProvider(tmp_path / "f.json")
    assert provider.all() == []
    (tmp_path / "f.json").write_text("   ")
    assert provider.all() == []
    (tmp_path / "f.json").write_text("{not json")
    assert provider.all() == []


def test_file_cache_lock_is_laravels_file_store_entry(tmp_path: Path) -> None:
    clock = Clock()
    with file_cache_lock(tmp_path, "laravel-failed-jobs", 5, 0.1, clock) as owner:
        entry = file_cache_path(tmp_path, "laravel-failed-jobs")
        assert entry.read_bytes() == f'{T0 + 5}s:16:"{owner}";'.encode()
        assert re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{40}", str(entry.relative_to(tmp_path)))
        with pytest.raises(LockTimeoutError), file_cache_lock(tmp_path, "laravel-failed-jobs", 5, 0.3, clock):
            pass
        clock.now += 5  # expired: another owner may take it
        with file_cache_lock(tmp_path, "laravel-failed-jobs", 5, 0.1, clock) as second:
            assert second != owner
    assert not entry.exists()


# -- null provider and the factory ----------------------------------------------------------------


def test_null_provider_records_nothing() -> None:
    provider = NullFailedJobProvider()
    assert provider.log("c", "q", "{}", "e") is None
    assert provider.all() == []
    assert provider.find("x") is None
    assert provider.flush() == 0


@pytest.mark.parametrize(
    ("driver", "expected"),
    [
        ("database-uuids", DatabaseUuidFailedJobProvider),
        ("database", DatabaseFailedJobProvider),
        ("custom-with-table", DatabaseFailedJobProvider),
        ("file", FileFailedJobProvider),
        ("null", NullFailedJobProvider),
    ],
)
def test_provider_from_config(sqlite_env: dict[str, str], tmp_path: Path, driver: str, expected: type) -> None:
    settings = load_settings(environ=sqlite_env, app_path=tmp_path)
    # set on the model: QUEUE_FAILED_DRIVER=null in the environment reads as "unset" in load_settings
    failed = settings.queue.failed.model_copy(update={"driver": driver})
    settings = settings.model_copy(update={"queue": settings.queue.model_copy(update={"failed": failed})})
    connections = Connections(settings)
    provider = connections.failed()
    assert type(provider) is expected
    if isinstance(provider, FileFailedJobProvider):
        assert provider.path == tmp_path / "storage" / "framework" / "cache" / "failed-jobs.json"
    connections.close()


def test_provider_from_config_database_round_trip(sqlite_env: dict[str, str], tmp_path: Path) -> None:
    settings = load_settings(environ={**sqlite_env, "APP_TIMEZONE": "Asia/Tokyo"}, app_path=tmp_path)
    connections = Connections(settings)
    migrate(connections.db())
    provider = connections.failed()
    provider.log("database", "default", FIXTURE["payload"], "boom")
    assert provider.ids() == [FIXTURE["uuid"]]
    connections.close()


# -- exception text ------------------------------------------------------------------------------------


def _raise_inner() -> None:
    raise ValueError("inner problem")


def _raise_outer() -> None:
    try:
        _raise_inner()
    except ValueError as exc:
        raise RuntimeError("outer problem") from exc


def test_exception_text_has_laravels_layout() -> None:
    try:
        _raise_inner()
    except ValueError as exc:
        text = format_exception(exc)
    lines = text.splitlines()
    this_file = Path(__file__).resolve()
    assert re.fullmatch(rf"ValueError: inner problem in {re.escape(str(this_file))}:\d+", lines[0])
    assert lines[1] == "Stack trace:"
    assert re.fullmatch(rf"#0 {re.escape(str(this_file))}\(\d+\): test_failed_providers\._raise_inner\(\)", lines[2])
    assert lines[-1] == "#1 {main}"


def test_exception_text_chains_innermost_first_like_php() -> None:
    try:
        _raise_outer()
    except RuntimeError as exc:
        text = format_exception(exc)
    first, second = text.split("\n\nNext ")
    assert first.startswith("ValueError: inner problem in ")
    assert second.startswith("RuntimeError: outer problem in ")
    assert first.rstrip().endswith("{main}") and second.rstrip().endswith("{main}")


def test_exception_text_without_message_or_traceback() -> None:
    class Custom(Exception):
        pass

    text = format_exception(Custom())
    assert text == (
        "test_failed_providers.test_exception_text_without_message_or_traceback.<locals>.Custom in [internal]:0"
        "\nStack trace:\n#0 {main}"
    )


def test_php_row_exception_layout_matches_ours_in_shape() -> None:
    php_lines = FIXTURE["exception"].splitlines()
    try:
        _raise_outer()
    except RuntimeError as exc:
        ours = format_exception(exc.__cause__ or exc).splitlines()  # type: ignore[arg-type]
    pattern = re.compile(r"^#\d+ .+\(\d+\): .+\(\)$")
    assert php_lines[1] == ours[1] == "Stack trace:"
    assert pattern.match(php_lines[2]) and pattern.match(ours[2])
    assert re.fullmatch(r"#\d+ \{main\}", php_lines[-1]) and re.fullmatch(r"#\d+ \{main\}", ours[-1])
