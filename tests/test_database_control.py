"""Restart and pause keys read inside the database pop (SQLite, MariaDB, PostgreSQL).

With Laravel's default `CACHE_STORE=database` on the queue's own connection, the worker's
per-iteration `select * from cache where key in (...)` is sent inside the reservation
transaction (PostgreSQL: inside the one pop statement) instead of as a separate query: one
transaction per job. Rows are written
the way PHP writes them (fixtures/laravel/db-general-log/mariadb-13: `i:<time>;` with
`expiration` = now + 315360000; `queue:pause` stores `b:1;`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import FIXTURES, wait_for
from support.control import make_worker, push

from laravel_queue.cache.database import DatabaseStore
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.db import Database, connect
from laravel_queue.drivers.database import DatabaseControlKeys, DatabaseQueue
from laravel_queue.registry import Registry
from laravel_queue.schema import migrate
from laravel_queue.worker.worker import RESTART_KEY, paused_key

PHP_PAUSED = "b:1;"


def php_restart_row() -> tuple[str, str]:
    """(prefixed key, value) of `php artisan queue:restart` on the database store (fixture 13)."""
    text = (FIXTURES / "laravel" / "db-general-log" / "mariadb-13-queue-restart-command.txt").read_text()
    match = re.search(r"insert into `cache` .* values \(\d+, '([^']+)', '([^']+)'\)", text)
    assert match, "fixture 13 has the INSERT of the restart key"
    return match.group(1), match.group(2)


@pytest.fixture(params=["sqlite", "mariadb", "pgsql"])
def conns(request: pytest.FixtureRequest) -> Iterator[Connections]:
    env = request.getfixturevalue({"sqlite": "sqlite_env", "mariadb": "mysql_env", "pgsql": "pgsql_env"}[request.param])
    connections = Connections(load_settings(environ={**env, "CACHE_PREFIX": "laravel-cache-"}))
    migrate(connections.db())
    yield connections
    connections.close()


@pytest.fixture
def php_db(conns: Connections) -> Iterator[Database]:
    """A second connection to the same database: what a PHP process writing the cache is."""
    other = connect(conns.settings.db_connection())
    yield other
    other.close()


def queue_of(conns: Connections) -> DatabaseQueue:
    queue = conns.queue()
    assert isinstance(queue, DatabaseQueue)
    return queue


def store_of(conns: Connections) -> DatabaseStore:
    store = conns.cache()
    assert isinstance(store, DatabaseStore)
    return store


def control_for(conns: Connections, queues: list[str]) -> DatabaseControlKeys:
    queue = queue_of(conns)
    control = queue.control_keys(
        store_of(conns), restart_key=RESTART_KEY, paused_keys={q: paused_key(queue.connection_name, q) for q in queues}
    )
    assert isinstance(control, DatabaseControlKeys), "database cache on the queue's connection"
    return control


def php_set(db: Database, prefixed_key: str, value: str, *, expiration: int | None = None) -> None:
    """Upsert a cache row as PHP's DatabaseStore does (no DatabaseStore code involved)."""
    expires = int(time.time()) + 315_360_000 if expiration is None else expiration
    q = db.quote_identifier
    db.execute(f"delete from {db.table('cache')} where {q('key')} = ?", (prefixed_key,))
    db.execute(
        f"insert into {db.table('cache')} ({q('expiration')}, {q('key')}, {q('value')}) values (?, ?, ?)",
        (expires, prefixed_key, value),
    )




def paused_row_key(queue: str) -> str:
    return "laravel-cache-" + paused_key("database", queue)


# -- the pop reads what the cache store reads ---------------------------------------------------------


def test_pop_reads_the_same_values_as_cache_many(conns: Connections, php_db: Database) -> None:
    queue, store = queue_of(conns), store_of(conns)
    control = control_for(conns, ["default"])
    keys = [RESTART_KEY, paused_key("database", "default")]

    def pop_values(expected: str | None) -> list[Any]:
        result = queue.pop_with_control("default", control=control, restart=expected)
        return [control.decode(result.restart), control.decode(result.paused)]

    assert pop_values(None) == store.many(keys) == [None, None]

    store.forever(RESTART_KEY, 1795417316)  # our writer
    store.forever(paused_key("database", "default"), True)
    assert pop_values(control.encode(1795417316)) == store.many(keys) == [1795417316, True]

    key, value = php_restart_row()  # PHP's writer, byte for byte
    assert key == "laravel-cache-" + RESTART_KEY
    php_set(php_db, key, value)
    php_set(php_db, paused_row_key("default"), PHP_PAUSED)
    assert pop_values(value) == store.many(keys) == [int(value[2:-1]), True]


def test_expired_rows_count_as_absent(conns: Connections, php_db: Database) -> None:
    queue = queue_of(conns)
    control = control_for(conns, ["default"])
    push(conns, "Tests\\A")
    key, value = php_restart_row()
    php_set(php_db, key, value, expiration=int(time.time()) - 1)
    php_set(php_db, paused_row_key("default"), PHP_PAUSED, expiration=int(time.time()) - 1)
    result = queue.pop_with_control("default", control=control, restart=None)
    assert result.skipped is None and result.job is not None


def test_restart_other_than_expected_reserves_nothing_but_applies_the_ack(
    conns: Connections, php_db: Database
) -> None:
    queue = queue_of(conns)
    control = control_for(conns, ["default"])
    push(conns, "Tests\\A")
    push(conns, "Tests\\B")
    first = queue.pop_with_control("default", control=control, restart=None).job
    assert first is not None
    key, value = php_restart_row()
    php_set(php_db, key, value)
    first.delete_later()
    result = queue.pop_with_control("default", ack=first, control=control, restart=None)
    assert (result.skipped, result.job, result.restart) == ("restart", None, value)
    assert queue.size("default") == 1  # the ack's DELETE committed
    assert (queue.reserved_size("default"), queue.pending_size("default")) == (0, 1)  # nothing reserved
    popped = queue.pop_with_control("default", control=control, restart=value).job
    assert popped is not None and popped.attempts() == 1


def test_paused_queue_is_not_reserved(conns: Connections, php_db: Database) -> None:
    queue = queue_of(conns)
    control = control_for(conns, ["default"])
    push(conns, "Tests\\A")
    php_set(php_db, paused_row_key("default"), PHP_PAUSED)
    result = queue.pop_with_control("default", control=control, restart=None)
    assert (result.skipped, result.job, result.paused) == ("paused", None, PHP_PAUSED)
    assert (queue.pending_size("default"), queue.reserved_size("default")) == (1, 0)


def test_attempts_overflow_still_names_the_unreservable_job(conns: Connections) -> None:
    """The one-statement PostgreSQL pop declines; the transaction form names the job (Laravel 12.54)."""
    from laravel_queue.drivers.database import UnreservableJobError

    queue = queue_of(conns)
    limit = {"mysql": 255, "pgsql": 32767}.get(queue.db.dialect)
    if limit is None:
        pytest.skip("SQLite INTEGER does not overflow")
    control = control_for(conns, ["default"])
    push(conns, "Tests\\A")
    push(conns, "Tests\\B")
    done = queue.pop_with_control("default", control=control, restart=None).job
    assert done is not None
    done.delete_later()
    queue.db.execute(f"update {queue.db.table('jobs')} set attempts = ? where id = ?", (limit, done.job_id + 1))
    with pytest.raises(UnreservableJobError) as info:
        queue.pop_with_control("default", ack=done, control=control, restart=None)
    assert info.value.job.job_id == done.job_id + 1
    assert queue.size("default") == 2  # rolled back: the ack was not deleted, the row is untouched


# -- through the real worker ----------------------------------------------------------------------------


def test_worker_skips_a_paused_queue_and_pops_the_next_one(conns: Connections, php_db: Database) -> None:
    order: list[str] = []
    registry = Registry()
    registry.register("Tests\\P", lambda job, data: order.append(data))
    push(conns, "Tests\\P", "paused-1", queue="paused")
    push(conns, "Tests\\P", "open-1", queue="open")
    push(conns, "Tests\\P", "open-2", queue="open")
    push(conns, "Tests\\P", "falsy-1", queue="falsy")
    php_set(php_db, paused_row_key("paused"), PHP_PAUSED)
    php_set(php_db, paused_row_key("falsy"), "b:0;")  # stored but false: not paused, as Laravel
    assert make_worker(conns, registry, stop_when_empty=True).daemon(None, ["paused", "open", "falsy"]) == 0
    assert order == ["open-1", "open-2", "falsy-1"]
    queue = queue_of(conns)
    assert queue.size("paused") == 1
    assert queue.size("open") == queue.size("falsy") == 0


def test_worker_stops_on_a_restart_written_by_php_mid_run(conns: Connections, php_db: Database) -> None:
    key, value = php_restart_row()
    ran: list[Any] = []
    registry = Registry()

    def signal_restart(job: Any, data: Any) -> None:
        ran.append(data)
        if data == 3:
            php_set(php_db, key, value)

    registry.register("Tests\\R", signal_restart)
    for n in range(1, 7):
        push(conns, "Tests\\R", n)
    started = time.monotonic()
    assert make_worker(conns, registry).daemon(None, ["default"]) == 0  # only the restart ends it
    assert time.monotonic() - started < 10
    assert ran == [1, 2, 3]  # stopped after the job during which the restart was written
    queue = queue_of(conns)
    assert (queue.pending_size("default"), queue.reserved_size("default")) == (3, 0)


def test_worker_stops_on_restart_while_idle(conns: Connections) -> None:
    ran = threading.Event()
    registry = Registry()
    registry.register("Tests\\I", lambda job, data: ran.set())
    push(conns, "Tests\\I")
    worker = make_worker(conns, registry, sleep=0.05)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.daemon(None, ["default"])), daemon=True)
    thread.start()
    wait_for(ran.is_set, what="the job to run")
    # the worker's own connection is busy in its thread: signal through a second one, as PHP would
    other = connect(conns.settings.db_connection())
    try:
        wait_for(lambda: queue_of_db(other) == 0, what="the ack to be applied")
        php_set(other, "laravel-cache-" + RESTART_KEY, f"i:{int(time.time())};")
    finally:
        other.close()
    thread.join(10)
    assert codes == [0]


def queue_of_db(db: Database) -> int:
    return int(db.fetch_value(f"select count(*) from {db.table('jobs')}"))


def test_restart_value_written_differently_is_not_a_restart(conns: Connections, php_db: Database) -> None:
    """`s:10:"1795417335";` == `i:1795417335;` for PHP's `!=`: re-read, not stopped."""
    key, value = php_restart_row()
    php_set(php_db, key, value)
    registry = Registry()
    ran: list[Any] = []

    def rewrite(job: Any, data: Any) -> None:
        ran.append(data)
        if data == 1:
            number = value[2:-1]
            php_set(php_db, key, f's:{len(number)}:"{number}";')

    registry.register("Tests\\W", rewrite)
    for n in range(1, 4):
        push(conns, "Tests\\W", n)
    assert make_worker(conns, registry, stop_when_empty=True).daemon(None, ["default"]) == 0
    assert ran == [1, 2, 3]


def test_unreadable_restart_value_is_ignored(conns: Connections, php_db: Database) -> None:
    php_set(php_db, "laravel-cache-" + RESTART_KEY, "O:9999:garbage")
    registry = Registry()
    ran: list[Any] = []
    registry.register("Tests\\G", lambda job, data: ran.append(data))
    for n in range(1, 4):
        push(conns, "Tests\\G", n)
    assert make_worker(conns, registry, stop_when_empty=True).daemon(None, ["default"]) == 0
    assert ran == [1, 2, 3]


def test_one_transaction_and_no_separate_cache_query_per_job(conns: Connections) -> None:
    jobs = 50
    registry = Registry()
    registry.register("Tests\\N", lambda job, data: None)
    for n in range(jobs):
        push(conns, "Tests\\N", n)
    db = conns.db()
    sent: list[str] = []
    db.listen(lambda sql, params: sent.append(sql))
    commits_before = db.commits
    assert make_worker(conns, registry, stop_when_empty=True).daemon(None, ["default"]) == 0
    assert queue_of(conns).size("default") == 0
    assert db.commits - commits_before == jobs + 1  # one per pop (the last, empty one carries the last ack)
    in_transaction = False
    cache_reads = 0
    startup = sent.index(next(sql for sql in sent if "cache" in sql))
    assert "in (?)" in sent[startup]  # Laravel's one read of the restart key when the daemon starts
    for sql in sent[startup + 1 :]:
        upper = sql.strip().upper()
        if upper.startswith("BEGIN NOT ATOMIC"):  # MariaDB: the whole pop transaction as one statement
            assert "\nSTART TRANSACTION;\n" in upper and upper.endswith("\nCOMMIT;\nEND") and "cache" in sql
            cache_reads += 1
        elif upper.startswith(("BEGIN", "START TRANSACTION")):
            in_transaction = True
        elif upper in ("COMMIT", "ROLLBACK"):
            in_transaction = False
        elif "from" in sql and "cache" in sql and sql.lstrip().lower().startswith("select"):
            cache_reads += 1
            assert in_transaction, f"cache read outside the pop transaction: {sql}"
        elif sql.lstrip().lower().startswith("with") and "cache" in sql:
            cache_reads += 1  # PostgreSQL: read and reservation are one statement
            assert not in_transaction and "as (update" in sql
    assert cache_reads == jobs + 1


# -- where the worker keeps its own cache read ------------------------------------------------------------


def test_cache_store_on_another_connection_keeps_the_separate_read(
    sqlite_env: dict[str, str], redis_env: dict[str, str], tmp_path: Any
) -> None:
    for env in (
        {**sqlite_env, "CACHE_STORE": "array"},
        {**sqlite_env, "CACHE_STORE": "redis", **{k: v for k, v in redis_env.items() if k.startswith("REDIS_")}},
    ):
        connections = Connections(load_settings(environ=env))
        try:
            queue = connections.queue()
            assert queue.control_keys(connections.cache(), restart_key=RESTART_KEY, paused_keys={}) is None
        finally:
            connections.close()
