"""The database queue driver on real SQLite, MariaDB and PostgreSQL, against Laravel's SQL logs."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import FIXTURES, laravel_fixture
from support.round_trips import round_trips

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.db import Database
from laravel_queue.drivers.database import DatabaseJob, DatabaseQueue, UnreservableJobError
from laravel_queue.schema import migrate
from laravel_queue.worker.worker import RESTART_KEY

T0 = 1_795_417_324  # a fixed "now" for every test; the clock is injected


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return float(self.now)


class SqlLog:
    """Statements as Laravel's query log shows them: transaction control + queue-table SQL."""

    def __init__(self, db: Database) -> None:
        self.entries: list[tuple[str, tuple[Any, ...]]] = []
        db.listen(lambda sql, params: self.entries.append((sql, params)))

    def take(self) -> list[tuple[str, tuple[Any, ...]]]:
        taken = [(_control(sql), params) for sql, params in self.entries]
        self.entries.clear()
        return taken

    def sql(self) -> list[str]:
        return [sql for sql, _ in self.take()]


def _control(sql: str) -> str:
    if sql in ("START TRANSACTION", "BEGIN", "BEGIN IMMEDIATE"):
        return "BEGIN"
    return sql


def laravel_log(engine: str, scenario: str) -> list[tuple[str, list[Any] | None]]:
    """(sql, bindings) of the `jobs` statements and transactions in a captured log."""
    return [(sql, b) for sql, b in laravel_statements(engine, scenario) if sql in ("BEGIN", "COMMIT") or
            "`jobs`" in sql or '"jobs"' in sql]


def laravel_log_lines(engine: str, scenario: str, table: str) -> list[str]:
    """The SQL text of the statements on one table in a captured log."""
    return [sql for sql, _ in laravel_statements(engine, scenario) if f"`{table}`" in sql or f'"{table}"' in sql]


def laravel_statements(engine: str, scenario: str) -> list[tuple[str, list[Any] | None]]:
    """(sql, bindings) of every statement and transaction boundary in a captured log."""
    text = (FIXTURES / "laravel" / "db-general-log" / f"{engine}-{scenario}.txt").read_text(encoding="utf-8")
    out: list[tuple[str, list[Any] | None]] = []
    for line in text.splitlines():
        if engine == "mariadb":
            match = re.search(r"\s(Prepare|Query)\t(.*)$", line)
            if not match:
                continue
            kind, sql = match.groups()
            if kind == "Query" and sql in ("START TRANSACTION", "COMMIT"):
                out.append(("BEGIN" if sql == "START TRANSACTION" else "COMMIT", None))
            elif kind == "Prepare":
                out.append((sql, None))
        else:
            match = re.search(r"\[sqlite\] (.*?)(?: \| bindings=(.*))?$", line)
            if not match:
                continue
            sql, bindings = match.groups()
            if sql.startswith("-- "):
                out.append((sql.split()[1], None))
            else:
                out.append((sql, json.loads(bindings)))
    return out


def expected_sql(db: Database, scenario: str) -> list[str]:
    """Laravel's statements for this engine (PostgreSQL: the SQLite text plus Laravel's pgsql lock clauses)."""
    if db.dialect == "mysql":
        return [sql for sql, _ in laravel_log("mariadb", scenario)]
    statements = [sql for sql, _ in laravel_log("sqlite", scenario)]
    if db.dialect == "pgsql":
        statements = [
            sql + " FOR UPDATE SKIP LOCKED" if sql.endswith('order by "id" asc limit 1')
            else sql + " for update" if sql == 'select * from "jobs" where "id" = ? limit 1'
            else sql + ' returning "id"' if sql.startswith('insert into "jobs" ("queue"')  # insertGetId
            else sql
            for sql in statements
        ]
    return statements


def relative(bindings: list[Any] | tuple[Any, ...], now: int) -> list[Any]:
    """Bindings with timestamps as offsets from `now` and payloads elided, for comparison."""
    out: list[Any] = []
    for value in bindings:
        if isinstance(value, int) and not isinstance(value, bool) and value > 1_000_000_000:
            out.append(("now", value - now))
        elif isinstance(value, str) and value.startswith("{"):
            out.append("<payload>")
        else:
            out.append(value)
    return out


PAYLOAD = laravel_fixture("failed_jobs/database-queue_sqlite.json")["failed_job_single"][0]["payload"]


@pytest.fixture
def queue(db: Database) -> DatabaseQueue:
    migrate(db, failed_table=None, batches_table=None, cache_table=None, lock_table=None)
    return DatabaseQueue(db, retry_after=90, clock=Clock())


def test_push_matches_laravel_insert(queue: DatabaseQueue) -> None:
    log = SqlLog(queue.db)
    assert queue.push_raw(PAYLOAD) == 1
    queue.clock.now += 1  # type: ignore[attr-defined]
    assert queue.push_raw(PAYLOAD, delay=60) == 2
    statements = log.take()
    _, push_bindings = laravel_log("sqlite", "01-dispatch-push")[0]
    _, delayed_bindings = laravel_log("sqlite", "02-dispatch-delayed")[0]
    expected = expected_sql(queue.db, "01-dispatch-push") + expected_sql(queue.db, "02-dispatch-delayed")
    assert [sql for sql, _ in statements] == expected
    assert push_bindings is not None and delayed_bindings is not None
    assert relative(statements[0][1], T0) == relative(push_bindings, push_bindings[4])
    assert relative(statements[1][1], T0 + 1) == relative(delayed_bindings, delayed_bindings[4])
    row = queue.db.fetch_one(f"select * from {queue.db.table('jobs')} where id = ?", (1,))
    assert row is not None
    assert row["payload"] == PAYLOAD  # byte-exact, unicode and escapes included
    assert {k: row[k] for k in ("queue", "attempts", "reserved_at", "available_at", "created_at")} == {
        "queue": "default", "attempts": 0, "reserved_at": None, "available_at": T0, "created_at": T0,
    }


def test_pop_and_delete_match_laravel(queue: DatabaseQueue) -> None:
    queue.push_raw(PAYLOAD)
    log = SqlLog(queue.db)
    job = queue.pop()
    assert isinstance(job, DatabaseJob)
    assert (job.job_id, job.attempts(), job.raw_body, job.queue) == (1, 1, PAYLOAD, "default")
    assert job.uuid == json.loads(PAYLOAD)["uuid"]
    job.delete()
    statements = log.take()
    assert [s for s, _ in statements] == expected_sql(queue.db, "05-worker-once-pop-ack")
    fixture = laravel_log("sqlite", "05-worker-once-pop-ack")
    fixture_now = fixture[1][1][1]  # type: ignore[index]
    ours = [relative(p, T0) for s, p in statements if s not in ("BEGIN", "COMMIT")]
    theirs = [relative(b or [], fixture_now) for s, b in fixture if s not in ("BEGIN", "COMMIT")]
    assert ours == theirs
    assert queue.size() == 0


def test_release_is_delete_and_reinsert_like_laravel(queue: DatabaseQueue) -> None:
    queue.push_raw(PAYLOAD)
    job = queue.pop()
    assert job is not None
    log = SqlLog(queue.db)
    job.release(10)
    statements = log.take()
    assert [s for s, _ in statements] == expected_sql(queue.db, "06-worker-once-release-10s")[4:]
    fixture = laravel_log("sqlite", "06-worker-once-release-10s")[4:]
    assert relative(statements[3][1], T0) == relative(fixture[3][1] or [], fixture[3][1][4])  # type: ignore[index]
    assert job.is_released()
    row = queue.db.fetch_one(f"select * from {queue.db.table('jobs')}")
    assert row is not None
    assert (row["id"], row["attempts"], row["reserved_at"], row["available_at"], row["created_at"]) == (
        2, 1, None, T0 + 10, T0,
    )
    assert queue.pop() is None  # not due yet
    queue.clock.now += 10  # type: ignore[attr-defined]
    again = queue.pop()
    assert again is not None
    assert (again.job_id, again.attempts(), again.raw_body) == (2, 2, PAYLOAD)


def test_delayed_job_is_not_popped_before_it_is_due(queue: DatabaseQueue) -> None:
    queue.push_raw(PAYLOAD, delay=60)
    log = SqlLog(queue.db)
    assert queue.pop() is None
    assert log.sql() == expected_sql(queue.db, "15-worker-once-delayed-not-yet-due")
    queue.clock.now += 59  # type: ignore[attr-defined]
    assert queue.pop() is None
    queue.clock.now += 1  # type: ignore[attr-defined]
    job = queue.pop()
    assert job is not None
    assert job.attempts() == 1


def test_expired_reservation_is_popped_again_with_attempts_incremented(db: Database) -> None:
    migrate(db, failed_table=None, batches_table=None, cache_table=None, lock_table=None)
    queue = DatabaseQueue(db, retry_after=3, clock=Clock())
    queue.push_raw(PAYLOAD)
    first = queue.pop()
    assert first is not None
    assert first.attempts() == 1
    queue.clock.now += 2  # type: ignore[attr-defined]
    assert queue.pop() is None  # still reserved
    queue.clock.now += 1  # type: ignore[attr-defined]
    log = SqlLog(db)
    second = queue.pop()
    assert second is not None
    assert (second.job_id, second.attempts()) == (first.job_id, 2)
    statements = log.take()
    fixture = laravel_log("sqlite", "14-worker-once-expired-reservation")
    assert relative(statements[1][1], T0 + 3) == relative(fixture[1][1] or [], fixture[1][1][1])  # type: ignore[index]
    assert relative(statements[2][1], T0 + 3) == relative(fixture[2][1] or [], fixture[1][1][1])  # type: ignore[index]


def test_sizes_oldest_pending_and_clear(queue: DatabaseQueue) -> None:
    queue.push_raw(PAYLOAD)
    queue.clock.now += 5  # type: ignore[attr-defined]
    queue.push_raw(PAYLOAD)
    queue.push_raw(PAYLOAD, delay=30)
    queue.push_raw(PAYLOAD, queue="other")
    assert queue.pop() is not None
    assert queue.size() == 3
    assert (queue.pending_size(), queue.delayed_size(), queue.reserved_size()) == (1, 1, 1)
    assert queue.creation_time_of_oldest_pending_job() == T0 + 5
    assert queue.size("other") == 1
    assert queue.creation_time_of_oldest_pending_job("empty") is None
    assert queue.clear() == 3
    assert queue.size() == 0
    assert queue.size("other") == 1


def test_pop_with_ack_deletes_previous_job_in_the_same_single_commit(queue: DatabaseQueue) -> None:
    for _ in range(3):
        queue.push_raw(PAYLOAD)
    first = queue.pop()
    assert first is not None
    first.delete_later()
    assert first.is_deleted()
    commits_before = queue.db.commits
    log = SqlLog(queue.db)
    with round_trips(queue.db) as trips:
        second = queue.pop(ack=first)
    assert second is not None
    assert second.job_id == 2
    assert queue.db.commits - commits_before == 1
    if queue.db.dialect != "sqlite":  # one run_many call = one round trip
        assert len(trips) == 1
    select_next = expected_sql(queue.db, "05-worker-once-pop-ack")[1]
    update = expected_sql(queue.db, "05-worker-once-pop-ack")[2]
    delete = expected_sql(queue.db, "05-worker-once-pop-ack")[6]
    if queue.db.dialect == "pgsql":  # the same three statements as one (same effect: see the one-trip tests below)
        assert log.sql() == [queue.sql["pop_acked"]]
    elif queue.db.dialect == "mysql":  # the chosen id stays on the server (see the one-trip tests below)
        trip = queue._one_trip_pop_sql(None)
        reserved = trip.reserved_in_block if queue.db.runs_compound_statements else trip.reserved
        one_trip = [trip.read_control, trip.select_next, trip.reserve, reserved]
        assert _one_trip_statements(log.sql()) == ["BEGIN", delete, *one_trip, "COMMIT"]
        assert select_next.startswith("select * ") and trip.select_next.endswith(select_next.split(" from ", 1)[1])
    else:
        assert log.sql() == ["BEGIN", delete, select_next, update, "COMMIT"]
    assert queue.size() == 2  # job 1 is gone
    second.delete_later()
    third = queue.pop(ack=second)
    assert third is not None
    third.delete_later()
    assert queue.pop(ack=third) is None  # the ack is applied even when nothing is reserved
    assert queue.size() == 0


def _one_trip_statements(sent: list[str]) -> list[str]:
    """The statements of a MySQL one-trip pop: on MariaDB they travel as one BEGIN NOT ATOMIC
    block (its START TRANSACTION shown as BEGIN), on MySQL as statements of one packet."""
    if len(sent) != 1 or not sent[0].startswith("BEGIN NOT ATOMIC\n"):
        return sent
    handler, begin, *statements, end = sent[0].split(";\n")
    assert handler.endswith("DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END")
    assert (begin, end) == ("START TRANSACTION", "END")
    return ["BEGIN", *statements]


def test_flush_acks_deletes_in_one_transaction(queue: DatabaseQueue) -> None:
    for _ in range(3):
        queue.push_raw(PAYLOAD)
    jobs = [queue.pop() for _ in range(3)]
    commits_before = queue.db.commits
    queue.flush_acks([job for job in jobs if job is not None])
    assert queue.db.commits - commits_before == 1
    assert queue.size() == 0


def test_ack_from_another_connection_is_rejected(queue: DatabaseQueue, tmp_path: Any) -> None:
    other_db = load_settings(environ={"DB_CONNECTION": "sqlite", "DB_DATABASE": str(tmp_path / "o.sqlite")})
    other = DatabaseQueue(Connections(other_db).db())
    migrate(other.db)
    other.push_raw(PAYLOAD)
    foreign = other.pop()
    with pytest.raises(ValueError, match="ack must be a DatabaseJob"):
        queue.pop(ack=foreign)


def test_bulk_push_uses_laravels_sorted_multi_row_insert(queue: DatabaseQueue) -> None:
    log = SqlLog(queue.db)
    assert queue.push_raw_many([PAYLOAD, PAYLOAD, PAYLOAD]) == 3
    sql = [s for s in log.sql() if s.startswith("insert")]
    fixture = [s for s in expected_sql(queue.db, "03-dispatch-batch") if s.startswith("insert")]
    assert sql == fixture
    assert queue.size() == 3


def test_queue_names_are_bound_never_interpolated(queue: DatabaseQueue) -> None:
    weird = "emails'; drop table jobs; --\"`"
    queue.push_raw(PAYLOAD, queue=weird)
    assert queue.size(weird) == 1
    job = queue.pop(weird)
    assert job is not None
    assert job.queue == weird


def test_invalid_table_name_is_refused(db: Database) -> None:
    queue = DatabaseQueue(db, table="jobs; drop table x")
    with pytest.raises(ValueError, match="invalid SQL identifier"):
        queue.push_raw(PAYLOAD)


def test_attempts_overflow_surfaces_as_an_unreservable_job(queue: DatabaseQueue) -> None:
    limit = {"mysql": 255, "pgsql": 32767}.get(queue.db.dialect)
    if limit is None:
        pytest.skip("SQLite INTEGER does not overflow")
    queue.push_raw(PAYLOAD)
    queue.push_raw(PAYLOAD)
    done = queue.pop()
    assert done is not None
    done.delete_later()
    queue.db.execute(f"update {queue.db.table('jobs')} set attempts = ? where id = ?", (limit, 2))
    with pytest.raises(UnreservableJobError) as info:
        queue.pop(ack=done)
    assert info.value.job.job_id == 2
    assert info.value.job.attempts() == limit + 1
    assert queue.size() == 2  # rolled back: the ack was not deleted, the row is untouched
    assert queue.reserved_size() == 1


def test_lost_connection_before_pop_is_retried_and_reserves_once(queue: DatabaseQueue, db_env: dict[str, str]) -> None:
    if queue.db.dialect == "sqlite":
        pytest.skip("SQLite has no server connection to lose")
    from test_db import _kill_session

    queue.push_raw(PAYLOAD)
    queue.push_raw(PAYLOAD)
    first = queue.pop()
    assert first is not None
    first.delete_later()
    _kill_session(queue.db, db_env)
    second = queue.pop(ack=first)
    assert second is not None
    assert second.job_id == 2
    assert queue.size() == 1
    assert queue.reserved_size() == 1


def test_lost_connection_inside_pop_rolls_back_and_retries(queue: DatabaseQueue, db_env: dict[str, str]) -> None:
    if queue.db.dialect == "sqlite":
        pytest.skip("SQLite has no server connection to lose")
    from test_db import _kill_session

    queue.push_raw(PAYLOAD)
    kills: list[int] = []
    real_now = queue.now

    def now_then_kill() -> int:
        value = real_now()
        if not kills:
            kills.append(1)
            queue.db.fetch_one("select 1 as one")  # open the transaction on MySQL
            _kill_session(queue.db, db_env)
        return value

    queue.now = now_then_kill  # type: ignore[method-assign]
    job = queue.pop()
    assert job is not None
    assert job.attempts() == 1  # the first, lost attempt left nothing behind
    assert queue.reserved_size() == 1


def test_from_config_uses_the_queue_connection_settings(sqlite_env: dict[str, str]) -> None:
    env = {**sqlite_env, "DB_QUEUE_TABLE": "queue_jobs", "DB_QUEUE_RETRY_AFTER": "7", "DB_QUEUE": "emails"}
    connections = Connections(load_settings(environ=env))
    queue = connections.queue("database")
    assert isinstance(queue, DatabaseQueue)
    assert (queue.table_name, queue.retry_after, queue.default_queue, queue.connection_name) == (
        "queue_jobs", 7, "emails", "database",
    )
    migrate(queue.db, jobs_table="queue_jobs")
    queue.push_raw(PAYLOAD)
    job = queue.pop()
    assert job is not None
    assert (job.queue, job.connection_name) == ("emails", "database")
    connections.close()


# -- PostgreSQL: pop(ack=...) as one statement ------------------------------------------------


@pytest.fixture(params=["pgsql", "mariadb", "mariadb-as-mysql"])
def one_trip_engine(request: pytest.FixtureRequest) -> str:
    """An engine whose pop with ack takes one round trip: PostgreSQL one statement, MariaDB
    one BEGIN NOT ATOMIC block, MySQL (MariaDB told to take MySQL's way) one packet of
    statements ending with its COMMIT."""
    return str(request.param)


@pytest.fixture
def one_trip_env(one_trip_engine: str, request: pytest.FixtureRequest) -> dict[str, str]:
    env: dict[str, str] = request.getfixturevalue("pgsql_env" if one_trip_engine == "pgsql" else "mysql_env")
    return env


@pytest.fixture
def one_trip_db(one_trip_env: dict[str, str], one_trip_engine: str) -> Any:
    database = Connections(load_settings(environ=one_trip_env)).db()
    if one_trip_engine == "mariadb-as-mysql":
        database.runs_compound_statements = False
    yield database
    database.close()


def _rows(db: Database, table: str) -> list[dict[str, Any]]:
    return db.fetch_all(f"select * from {db.table(table)} order by id")


def test_one_trip_pop_changes_the_table_exactly_as_laravels_protocol(one_trip_db: Database) -> None:
    """Same pushes on two tables; one worker pops with ack (one round trip), the other runs
    Laravel's DELETE, then BEGIN/SELECT FOR UPDATE SKIP LOCKED/UPDATE/COMMIT. After every
    step both tables hold the same rows, column for column."""
    migrate(one_trip_db, failed_table=None, batches_table=None, cache_table=None, lock_table=None)
    no_others: dict[str, Any] = {"failed_table": None, "batches_table": None, "cache_table": None, "lock_table": None}
    migrate(one_trip_db, jobs_table="jobs_ref", **no_others)
    clock = Clock()
    fast = DatabaseQueue(one_trip_db, retry_after=5, clock=clock)
    reference = DatabaseQueue(one_trip_db, table="jobs_ref", retry_after=5, clock=clock)
    for queue in (fast, reference):
        queue.push_raw(PAYLOAD)
        queue.push_raw(PAYLOAD, delay=3)
        queue.push_raw(PAYLOAD, queue="other")
        queue.push_raw(PAYLOAD)
        stale = queue.pop()  # reserved, never acked: its reservation expires after 5 s
        assert stale is not None and stale.job_id == 1
    fast_prev, ref_prev = fast.pop(), reference.pop()
    assert fast_prev is not None and ref_prev is not None
    reserved: list[tuple[int, int]] = []
    for _ in range(5):
        clock.now += 3
        fast_prev.delete_later()
        ref_prev.delete_later()
        fast_job = fast.pop(ack=fast_prev)
        reference.flush_acks([ref_prev])
        ref_job = reference.pop()
        assert _rows(one_trip_db, "jobs") == _rows(one_trip_db, "jobs_ref")
        assert (fast_job and (fast_job.job_id, fast_job.attempts(), fast_job.raw_body)) == (
            ref_job and (ref_job.job_id, ref_job.attempts(), ref_job.raw_body)
        )
        if fast_job is None or ref_job is None:
            break
        reserved.append((fast_job.job_id, fast_job.attempts()))
        fast_prev, ref_prev = fast_job, ref_job
    assert reserved == [(2, 1), (1, 2)]  # the delayed job once due, then the expired reservation
    assert fast.size() == reference.size() == 0  # every default job ran, the expired one included
    assert fast.size("other") == 1


def _three_jobs_first_done(db: Database) -> tuple[DatabaseQueue, DatabaseJob]:
    """A queue of three jobs whose first was popped and has finished (`delete_later`)."""
    migrate(db, failed_table=None, batches_table=None, cache_table=None, lock_table=None)
    queue = DatabaseQueue(db, clock=Clock())
    for _ in range(3):
        queue.push_raw(PAYLOAD)
    first = queue.pop()
    assert first is not None
    first.delete_later()
    return queue, first


def test_one_trip_pop_skips_rows_locked_by_another_worker(one_trip_db: Database, one_trip_env: dict[str, str]) -> None:
    queue, first = _three_jobs_first_done(one_trip_db)
    other = Connections(load_settings(environ=one_trip_env)).db()
    try:
        with other.transaction():  # another worker holds job 2 between its SELECT and UPDATE
            other.fetch_one(f"select * from {other.table('jobs')} where id = ? for update", (2,))
            commits_before = one_trip_db.commits
            job = queue.pop(ack=first)
            assert job is not None
            assert (job.job_id, job.attempts()) == (3, 1)
            assert one_trip_db.commits - commits_before == 1
    finally:
        other.close()
    rows = _rows(one_trip_db, "jobs")
    assert [(r["id"], r["attempts"], r["reserved_at"]) for r in rows] == [(2, 0, None), (3, 1, T0)]


def test_one_trip_pop_never_reserves_the_row_it_acks(one_trip_db: Database) -> None:
    """The acked row may look due (expired reservation): it is deleted, never also updated."""
    migrate(one_trip_db, failed_table=None, batches_table=None, cache_table=None, lock_table=None)
    queue = DatabaseQueue(one_trip_db, retry_after=1, clock=Clock())
    queue.push_raw(PAYLOAD)
    job = queue.pop()
    assert job is not None
    job.delete_later()
    queue.clock.now += 10  # type: ignore[attr-defined]
    assert queue.pop(ack=job) is None
    assert queue.size() == 0


@pytest.mark.parametrize("compound", [True, False], ids=["mariadb-block", "mysql-packet"])
def test_mysql_one_trip_pop_that_finds_nothing_reserves_nothing(mysql_env: dict[str, str], compound: bool) -> None:
    """The chosen id travels in a session variable; a pop that finds no due row must not
    reuse the previous pop's id. Job 2 is popped, then put back not yet due, then a pop with
    an ack finds nothing: job 2 stays as it was put back."""
    db = Connections(load_settings(environ=mysql_env)).db()
    db.runs_compound_statements = compound
    try:
        queue, first = _three_jobs_first_done(db)
        second = queue.pop(ack=first)
        assert second is not None and second.job_id == 2
        db.execute(f"update {db.table('jobs')} set reserved_at = null, available_at = ? where id = ?", (T0 + 60, 2))
        third = queue.pop()
        assert third is not None and third.job_id == 3
        third.delete_later()
        assert queue.pop(ack=third) is None
        assert [(r["id"], r["attempts"], r["reserved_at"]) for r in _rows(db, "jobs")] == [(2, 1, None)]
    finally:
        db.close()


def _rows_read(plan: dict[str, Any], alias: str) -> float:
    """Rows the plan's scans under `alias` produced or threw away (EXPLAIN ANALYZE, JSON)."""
    read = 0.0
    if plan.get("Alias") == alias and "Scan" in plan.get("Node Type", ""):
        read += plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        read += plan.get("Rows Removed by Join Filter", 0)
    return read + sum(_rows_read(child, alias) for child in plan.get("Plans", []))


class _Rollback(Exception):
    pass


@pytest.mark.parametrize("pop", ["pop with ack", "worker pop with restart and pause read"])
def test_pgsql_one_statement_pop_updates_its_row_by_index_whatever_the_statistics_say(
    pgsql_env: dict[str, str], pop: str
) -> None:
    """A jobs table is usually empty when autovacuum analyzes it. With those statistics and
    2,000 jobs pushed since, the pop's UPDATE must still find the chosen row by its id: joined
    to the candidate, PostgreSQL scanned the whole table on every pop (7 ms at 20,000 jobs).
    How the candidate itself is found is Laravel's SELECT and the planner's choice."""
    conns = Connections(load_settings(environ=pgsql_env))
    try:
        db = conns.db()
        migrate(db)
        queue = conns.queue()
        assert isinstance(queue, DatabaseQueue)
        control = queue.control_keys(conns.cache(), restart_key=RESTART_KEY, paused_keys={"default": "paused"})
        queue.push_raw_many([PAYLOAD] * 100)  # a few jobs come and go,
        queue.clear()
        db.execute(f"analyze {db.table('jobs')}")  # then autovacuum finds the table empty
        queue.push_raw_many([PAYLOAD] * 2000)
        first = queue.pop()
        assert first is not None
        first.delete_later()
        statements: list[tuple[str, tuple[Any, ...]]] = []
        db.listen(lambda sql, params: statements.append((sql, params)))
        if pop == "pop with ack":
            second = queue.pop(ack=first)
        else:
            second = queue.pop_with_control("default", ack=first, control=control, restart=None).job
        assert second is not None and second.job_id == 102
        ((sql, params),) = statements  # one statement: the pop with its ack
        with pytest.raises(_Rollback), db.transaction():  # run it again under EXPLAIN, then undo it
            row = db.fetch_one(f"explain (analyze, format json) {sql}", params)
            assert row is not None
            plan = row["QUERY PLAN"]
            raise _Rollback
        assert _rows_read(plan[0]["Plan"], "reserving") <= 2, json.dumps(plan, indent=1)
    finally:
        conns.close()
