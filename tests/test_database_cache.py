"""The database cache store and DatabaseLock on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

import base64
import subprocess
from typing import Any

import pytest
from test_database_queue import laravel_log_lines

from laravel_queue.cache.database import DatabaseLock, DatabaseStore
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.db import Database
from laravel_queue.php import dumps
from laravel_queue.schema import migrate

T0 = 1_795_417_335
PREFIX = "laravel-cache-"


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return float(self.now)


@pytest.fixture
def store(db: Database) -> DatabaseStore:
    migrate(db, jobs_table=None, failed_table=None, batches_table=None)
    return DatabaseStore(db, "cache", PREFIX, clock=Clock(), lock_lottery=(0, 100))


def _statements(db: Database) -> list[tuple[str, tuple[Any, ...]]]:
    seen: list[tuple[str, tuple[Any, ...]]] = []
    db.listen(lambda sql, params: seen.append((sql, params)))
    return seen


def _engine(db: Database) -> str:
    return "mariadb" if db.dialect == "mysql" else "sqlite"


def test_forever_is_laravels_upsert_and_get_is_laravels_select(store: DatabaseStore) -> None:
    seen = _statements(store.db)
    store.forever("illuminate:queue:restart", T0)
    expected = laravel_log_lines(_engine(store.db), "13-queue-restart-command", "cache")[0]
    if store.db.dialect != "pgsql":
        assert seen[0][0] == expected
    assert seen[0][1] == (T0 + 315_360_000, "laravel-cache-illuminate:queue:restart", f"i:{T0};")
    assert store.get("illuminate:queue:restart") == T0
    select = laravel_log_lines(_engine(store.db), "10-worker-stop-when-empty-2-jobs", "cache")[0]
    if store.db.dialect != "pgsql":
        assert seen[1][0] == select
    assert seen[1][1] == ("laravel-cache-illuminate:queue:restart",)


@pytest.mark.parametrize(
    ("value", "stored"),
    [(True, "b:1;"), (5, "i:5;"), ("x", 's:1:"x";'), ([1, "a"], 'a:2:{i:0;i:1;i:1;s:1:"a";}'), (None, "N;")],
)
def test_values_are_php_serialized(store: DatabaseStore, value: Any, stored: str) -> None:
    store.put("k", value, 60)
    key = store.db.quote_identifier("key")
    raw = store.db.fetch_value(f"select value from {store.db.table('cache')} where {key} = ?", ("laravel-cache-k",))
    assert raw == stored
    assert store.get("k") == (value if value is not None else None)


def test_nul_bytes_are_base64_on_sqlite_and_pgsql_only(store: DatabaseStore) -> None:
    value = "a\0b"
    store.put("nul", value, 60)
    raw = store.db.fetch_value(f"select value from {store.db.table('cache')}")
    if store.db.dialect == "mysql":
        assert raw == 's:3:"a\0b";'
    else:
        assert raw == base64.b64encode(b's:3:"a\0b";').decode()
    assert store.get("nul") == value


def test_expired_rows_are_missing_and_deleted_with_their_flexible_companion(store: DatabaseStore) -> None:
    clock: Clock = store.clock  # type: ignore[assignment]
    store.put("short", "v", 10)
    store.put("illuminate:cache:flexible:created:short", T0, 10)
    clock.now += 9
    assert store.get("short") == "v"
    clock.now += 1
    seen = _statements(store.db)
    assert store.get("short") is None
    assert seen[1][1] == ("laravel-cache-short", "laravel-cache-illuminate:cache:flexible:created:short", T0 + 10)
    assert store.db.fetch_value(f"select count(*) as c from {store.db.table('cache')}") == 0


def test_put_with_non_positive_ttl_forgets(store: DatabaseStore) -> None:
    store.put("k", 1, 60)
    store.put("k", 2, 0)
    assert store.get("k") is None


def test_many_keeps_the_order_of_keys(store: DatabaseStore) -> None:
    store.put("a", 1, 60)
    store.put("c", 3, 60)
    assert store.many(["c", "b", "a"]) == [3, None, 1]
    assert store.many([]) == []


def test_add_only_when_absent_or_expired(store: DatabaseStore) -> None:
    clock: Clock = store.clock  # type: ignore[assignment]
    assert store.add("k", "first", 10) is True
    assert store.add("k", "second", 10) is False
    assert store.get("k") == "first"
    assert store.add("other", "x", 0) is False
    clock.now += 10
    assert store.add("k", "third", 10) is True
    assert store.get("k") == "third"


def test_increment_and_decrement(store: DatabaseStore) -> None:
    assert store.increment("missing") is None
    store.put("n", 5, 60)
    assert store.increment("n") == 6
    assert store.increment("n", 4) == 10
    assert store.decrement("n", 3) == 7
    assert store.get("n") == 7
    raw = store.db.fetch_value(f"select value from {store.db.table('cache')}")
    assert raw == "i:7;"
    store.put("s", "12", 60)
    assert store.increment("s") == 13
    store.put("word", "abc", 60)
    assert store.increment("word") is None


def test_forget_removes_value_and_companion(store: DatabaseStore) -> None:
    store.put("k", 1, 60)
    store.put("illuminate:cache:flexible:created:k", 1, 60)
    assert store.forget("k") is True
    assert store.db.fetch_value(f"select count(*) as c from {store.db.table('cache')}") == 0


def test_values_written_by_php_are_read_and_ours_are_read_by_php(store: DatabaseStore, php: str) -> None:
    php_serialized = subprocess.run(
        [php, "-r", 'echo serialize(["paused" => true, "n" => 3, "s" => "é", "list" => [1.5, null]]);'],
        check=True, capture_output=True, text=True,
    ).stdout
    store.db.execute(
        f"insert into {store.db.table('cache')} ({store.db.quote_identifier('key')}, value, expiration)"
        " values (?, ?, ?)",
        ("laravel-cache-from-php", php_serialized, T0 + 100),
    )
    assert store.get("from-php") == {"paused": True, "n": 3, "s": "é", "list": [1.5, None]}
    store.put("to-php", {"a": [1, 2], "b": "ü"}, 60)
    raw = store.db.fetch_value(
        f"select value from {store.db.table('cache')} where {store.db.quote_identifier('key')} = ?",
        ("laravel-cache-to-php",),
    )
    decoded = subprocess.run(
        [php, "-r", "echo json_encode(unserialize(stream_get_contents(STDIN)));"],
        input=raw, check=True, capture_output=True, text=True,
    ).stdout
    assert decoded == '{"a":[1,2],"b":"\\u00fc"}'


# -- locks -------------------------------------------------------------------------------------


def test_lock_acquire_writes_laravels_row_and_force_release_matches(store: DatabaseStore) -> None:
    seen = _statements(store.db)
    lock = store.lock("laravel_unique_job:App\\Jobs\\UniqueJob:product-77", 3600, owner="1h6wGGbNVRmWgddn")
    assert isinstance(lock, DatabaseLock)
    assert lock.acquire() is True
    expected_insert = laravel_log_lines(_engine(store.db), "04-dispatch-unique", "cache_locks")[0]
    if store.db.dialect != "pgsql":
        assert seen[0][0] == expected_insert
    assert seen[0][1] == ("laravel-cache-laravel_unique_job:App\\Jobs\\UniqueJob:product-77", "1h6wGGbNVRmWgddn",
                          T0 + 3600)
    assert lock.get_current_owner() == "1h6wGGbNVRmWgddn"
    seen.clear()
    lock.force_release()
    expected_delete = laravel_log_lines(_engine(store.db), "12-worker-once-unique-job", "cache_locks")[0]
    if store.db.dialect != "pgsql":
        assert seen[0][0] == expected_delete
    assert lock.get_current_owner() is None


def test_lock_exclusion_release_and_expiry_takeover(store: DatabaseStore) -> None:
    clock: Clock = store.clock  # type: ignore[assignment]
    first = store.lock("job", 10)
    second = store.lock("job", 10)
    assert len(first.owner) == 16 and first.owner.isalnum() and first.owner != second.owner
    assert first.acquire() is True
    clock.now += 1  # (same second on MySQL: 0 rows *changed*, so PHP's PDO reports false too)
    assert first.acquire() is True  # re-acquiring our own lock refreshes it
    assert second.acquire() is False
    assert second.release() is False
    assert first.get_current_owner() == first.owner
    clock.now += 10
    assert second.acquire() is True  # expired: taken over
    assert first.release() is False
    assert second.release() is True
    assert second.get_current_owner() is None
    restored = store.restore_lock("job", "someone")
    assert restored.owner == "someone"


def test_lock_without_ttl_uses_the_default_timeout(store: DatabaseStore) -> None:
    lock = store.lock("forever")
    assert lock.acquire() is True
    expiration = store.db.fetch_value(f"select expiration from {store.db.table('cache_locks')}")
    assert expiration == T0 + 86_400


def test_lock_refresh(store: DatabaseStore) -> None:
    clock: Clock = store.clock  # type: ignore[assignment]
    lock = store.lock("r", 10)
    assert lock.refresh() is False
    assert lock.acquire() is True
    clock.now += 5
    assert lock.refresh(30) is True
    clock.now += 20
    assert store.lock("r", 10).acquire() is False


def test_lock_lottery_sweeps_expired_locks(db: Database) -> None:
    migrate(db, jobs_table=None, failed_table=None, batches_table=None)
    clock = Clock()
    store = DatabaseStore(db, "cache", PREFIX, clock=clock, lock_lottery=(1, 1))
    assert store.lock("old", 5).acquire() is True
    clock.now += 5
    assert store.lock("new", 5).acquire() is True
    owners = db.fetch_all(f"select {db.quote_identifier('key')} from {db.table('cache_locks')}")
    assert [row["key"] for row in owners] == ["laravel-cache-new"]


def test_failed_acquire_inside_a_transaction_keeps_the_transaction_usable(store: DatabaseStore) -> None:
    assert store.lock("t", 10).acquire() is True
    with store.db.transaction():
        assert store.lock("t", 10).acquire() is False
        store.put("after", 1, 60)  # PostgreSQL would refuse this if the INSERT had aborted the transaction
    assert store.get("after") == 1


def test_from_config_uses_cache_prefix_and_lock_connection(sqlite_env: dict[str, str]) -> None:
    settings = load_settings(environ={**sqlite_env, "CACHE_PREFIX": "myapp-cache-"})
    connections = Connections(settings)
    store = connections.cache("database")
    assert isinstance(store, DatabaseStore)
    assert store.prefix == "myapp-cache-"
    assert store.lock_db is connections.db()
    migrate(store.db)
    store.put("k", "v", 60)
    assert store.db.fetch_value("select key from cache") == "myapp-cache-k"
    assert dumps("v").decode() == store.db.fetch_value("select value from cache")
    connections.close()
