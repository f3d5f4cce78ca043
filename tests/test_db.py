"""The SQL connection layer against real SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from support.round_trips import round_trips

from laravel_queue.config import load_settings
from laravel_queue.db import (
    ConcurrencyError,
    Database,
    DatabaseError,
    LostConnectionError,
    UniqueViolationError,
    _to_format_style,
    connect,
)


def _make_table(db: Database) -> str:
    table = db.table("things")
    key_type = {"sqlite": "integer primary key autoincrement", "mysql": "bigint unsigned auto_increment primary key",
                "pgsql": "bigserial primary key"}[db.dialect]
    db.execute(f"create table {table} (id {key_type}, name varchar(50) not null unique, note text)")
    return table


def test_placeholders_are_translated_outside_quotes_only() -> None:
    assert _to_format_style("select ? , '?', \"a?\", `b?` where x like '5%'") == (
        "select %s , '?', \"a?\", `b?` where x like '5%%'"
    )


def test_crud_and_dict_rows(db: Database) -> None:
    table = _make_table(db)
    first = db.insert_get_id(f"insert into {table} (name, note) values (?, ?)", ("a", "100% ünïcode ?"))
    second = db.insert_get_id(f"insert into {table} (name) values (?)", ("b",))
    assert second == first + 1
    assert db.fetch_one(f"select name, note from {table} where id = ?", (first,)) == {
        "name": "a",
        "note": "100% ünïcode ?",
    }
    assert [r["name"] for r in db.fetch_all(f"select name from {table} order by id desc")] == ["b", "a"]
    assert db.fetch_value(f"select count(*) as aggregate from {table}") == 2
    assert db.execute(f"update {table} set note = ? where name like ?", ("x", "%")) == 2
    assert db.execute(f"delete from {table} where id = ?", (first,)) == 1
    assert db.fetch_one(f"select * from {table} where id = ?", (first,)) is None


def test_unique_violation_is_classified(db: Database) -> None:
    table = _make_table(db)
    db.execute(f"insert into {table} (name) values (?)", ("a",))
    with pytest.raises(UniqueViolationError):
        db.execute(f"insert into {table} (name) values (?)", ("a",))
    # the connection stays usable afterwards (autocommit mode)
    assert db.fetch_value(f"select count(*) as c from {table}") == 1


def test_transactions_commit_roll_back_and_nest_with_savepoints(db: Database) -> None:
    table = _make_table(db)
    seen: list[str] = []
    db.listen(lambda sql, params: seen.append(sql))
    with db.transaction():
        db.execute(f"insert into {table} (name) values (?)", ("kept",))
        with pytest.raises(RuntimeError), db.transaction():
            db.execute(f"insert into {table} (name) values (?)", ("inner-rolled-back",))
            raise RuntimeError("inner")
        with db.transaction():
            db.execute(f"insert into {table} (name) values (?)", ("inner-kept",))
        assert db.in_transaction
    with pytest.raises(RuntimeError), db.transaction():
        db.execute(f"insert into {table} (name) values (?)", ("outer-rolled-back",))
        raise RuntimeError("outer")
    names = [r["name"] for r in db.fetch_all(f"select name from {table} order by id")]
    assert names == ["kept", "inner-kept"]
    begin = {"sqlite": "BEGIN IMMEDIATE", "mysql": "START TRANSACTION", "pgsql": "BEGIN"}[db.dialect]
    control = [s for s in seen if not s.startswith("insert") and not s.startswith("select")]
    assert control == [
        begin, "SAVEPOINT trans2", "ROLLBACK TO SAVEPOINT trans2", "SAVEPOINT trans2",
        "RELEASE SAVEPOINT trans2", "COMMIT", begin, "ROLLBACK",
    ]


def test_commit_counter_counts_durable_commits(db: Database) -> None:
    table = _make_table(db)
    before = db.commits
    db.execute(f"insert into {table} (name) values (?)", ("a",))
    db.fetch_all(f"select * from {table}")
    with db.transaction():
        db.execute(f"insert into {table} (name) values (?)", ("b",))
        db.execute(f"insert into {table} (name) values (?)", ("c",))
    assert db.commits - before == 2


@pytest.mark.parametrize("bad", ["jobs; drop table x", "a b", "`x`", 'x"', "", "tab-le", "x/*"])
def test_identifiers_are_validated(db: Database, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid SQL identifier"):
        db.quote_identifier(bad)


def test_identifier_quoting_and_prefix(db: Database) -> None:
    q = "`" if db.dialect == "mysql" else '"'
    assert db.quote_identifier("jobs") == f"{q}jobs{q}"
    assert db.quote_identifier("main.jobs") == f"{q}main{q}.{q}jobs{q}"


def test_skip_locked_detection(db: Database) -> None:
    # MariaDB 10.11 and PostgreSQL 15 on this machine both qualify; SQLite never does.
    assert db.supports_skip_locked() is (db.dialect != "sqlite")


@pytest.mark.parametrize(
    ("driver", "version", "expected"),
    [
        ("mysql", "8.0.0", False),
        ("mysql", "8.0.1", True),
        ("mariadb", "5.5.5-10.5.9-MariaDB-log", False),
        ("mariadb", "5.5.5-10.6.0-MariaDB", True),
        ("mysql", "10.11.2-MariaDB", True),
        ("pgsql", "9.4", False),
        ("pgsql", "9.5", True),
        ("mysql", "8.0.11-vitess", False),
        ("mysql", "19.0.0-vitess", True),
    ],
)
def test_skip_locked_version_rule(driver: str, version: str, expected: bool) -> None:
    cfg = load_settings(environ={"DB_CONNECTION": driver}).db_connection().model_copy(update={"version": version})
    assert connect(cfg).supports_skip_locked() is expected


def _kill_session(db: Database, db_env: dict[str, str]) -> None:
    if db.dialect == "mysql":
        import pymysql

        session = db.fetch_value("select connection_id() as id")
        admin = pymysql.connect(host=db_env["DB_HOST"], port=int(db_env["DB_PORT"]), user=db_env["DB_USERNAME"],
                                password=db_env.get("DB_PASSWORD", ""), autocommit=True)
        with admin.cursor() as cur:
            cur.execute(f"KILL {int(session)}")
        admin.close()
    else:
        import psycopg

        session = db.fetch_value("select pg_backend_pid() as pid")
        with psycopg.connect(host=db_env["DB_HOST"], port=int(db_env["DB_PORT"]), user=db_env["DB_USERNAME"],
                             dbname="postgres", autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (session,))


def test_lost_connection_outside_transaction_reconnects_and_retries(db: Database, db_env: dict[str, str]) -> None:
    if db.dialect == "sqlite":
        pytest.skip("SQLite has no server connection to lose")
    table = _make_table(db)
    _kill_session(db, db_env)
    assert db.execute(f"insert into {table} (name) values (?)", ("after-kill",)) == 1
    assert db.fetch_value(f"select count(*) as c from {table}") == 1


def test_lost_connection_inside_transaction_propagates_and_run_transaction_retries(
    db: Database, db_env: dict[str, str]
) -> None:
    if db.dialect == "sqlite":
        pytest.skip("SQLite has no server connection to lose")
    table = _make_table(db)
    with pytest.raises(LostConnectionError), db.transaction():
        db.execute(f"insert into {table} (name) values (?)", ("lost",))
        _kill_session(db, db_env)
        db.execute(f"insert into {table} (name) values (?)", ("lost-2",))
    assert not db.in_transaction
    assert db.fetch_value(f"select count(*) as c from {table}") == 0

    calls: list[int] = []

    def work() -> str:
        calls.append(1)
        db.execute(f"insert into {table} (name) values (?)", (f"try-{len(calls)}",))
        if len(calls) == 1:
            _kill_session(db, db_env)
            db.fetch_one("select 1 as one")
        return "done"

    assert db.run_transaction(work) == "done"
    assert len(calls) == 2
    assert [r["name"] for r in db.fetch_all(f"select name from {table}")] == ["try-2"]


def _sqlite(path: Path, **env: str) -> Database:
    return connect(load_settings(environ={"DB_CONNECTION": "sqlite", "DB_DATABASE": str(path), **env}).db_connection())


def _file_journal_mode(path: Path) -> str:
    """The mode another process (PHP's PDO, say) finds on a fresh connection."""
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


def test_sqlite_pragmas_follow_laravel_config(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    plain = _sqlite(path)
    assert plain.fetch_value("PRAGMA journal_mode") == "persist"  # a rollback journal, kept between commits
    assert _file_journal_mode(path) == "delete"  # never switched to WAL silently, nor for anyone else
    assert plain.fetch_value("PRAGMA busy_timeout") == 60000  # PDO's default
    plain.close()
    env = {"DB_CONNECTION": "sqlite", "DB_DATABASE": str(path), "DB_JOURNAL_MODE": "wal",
           "DB_BUSY_TIMEOUT": "1234", "DB_SYNCHRONOUS": "normal"}
    tuned = connect(load_settings(environ=env).db_connection())
    assert tuned.fetch_value("PRAGMA journal_mode") == "wal"
    assert tuned.fetch_value("PRAGMA busy_timeout") == 1234
    assert tuned.fetch_value("PRAGMA synchronous") == 1
    tuned.close()


def test_sqlite_default_journal_is_kept_between_commits_and_mixes_with_delete_mode(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    journal = Path(f"{path}-journal")
    ours = _sqlite(path)
    ours.execute("create table t (x integer)")
    with ours.transaction():
        ours.execute("insert into t (x) values (?)", (1,))
    assert journal.exists()  # reused by the next commit instead of created and unlinked
    assert journal.read_bytes()[:28] == bytes(28)  # header zeroed: not a hot journal
    php_like = sqlite3.connect(path, isolation_level=None)  # SQLite's default DELETE mode, as PDO opens it
    assert php_like.execute("select x from t").fetchall() == [(1,)]
    php_like.execute("insert into t (x) values (2)")
    assert not journal.exists()  # the DELETE-mode writer removed it, as it always does
    with ours.transaction():
        ours.execute("insert into t (x) values (?)", (3,))
    assert php_like.execute("select x from t order by x").fetchall() == [(1,), (2,), (3,)]
    assert php_like.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    php_like.close()
    ours.close()


def _table_of(db: Database, values: list[str]) -> None:
    """Table `t (x text)` holding `values`, written in one transaction."""
    db.execute("create table t (x text)")
    with db.transaction():
        for value in values:
            db.execute("insert into t (x) values (?)", (value,))


def test_sqlite_kept_journal_never_exceeds_its_limit(tmp_path: Path) -> None:
    from laravel_queue.db import PERSISTED_JOURNAL_LIMIT

    path = tmp_path / "db.sqlite"
    ours = _sqlite(path)
    _table_of(ours, ["x" * 2000 + str(n) for n in range(3000)])
    ours.execute("delete from t")  # journals every page the insert wrote: several MiB
    assert 0 < Path(f"{path}-journal").stat().st_size <= PERSISTED_JOURNAL_LIMIT
    ours.close()


def test_sqlite_wal_database_and_explicit_journal_mode_are_left_alone(tmp_path: Path) -> None:
    wal = tmp_path / "wal.sqlite"
    conn = sqlite3.connect(wal)
    conn.execute("PRAGMA journal_mode = wal")
    conn.close()
    ours = _sqlite(wal)
    assert ours.fetch_value("PRAGMA journal_mode") == "wal"
    ours.execute("create table t (x integer)")
    ours.close()
    assert _file_journal_mode(wal) == "wal"
    plain = tmp_path / "delete.sqlite"
    ours = _sqlite(plain, DB_JOURNAL_MODE="delete")
    ours.execute("create table t (x integer)")
    assert ours.fetch_value("PRAGMA journal_mode") == "delete"
    assert not Path(f"{plain}-journal").exists()
    ours.close()


_CRASH_MID_TRANSACTION = """
import os, sys
from laravel_queue.config import load_settings
from laravel_queue.db import connect
db = connect(load_settings(environ={"DB_CONNECTION": "sqlite", "DB_DATABASE": sys.argv[1]}).db_connection())
db.execute("PRAGMA cache_size = 10")  # spill changed pages into the database file before the commit
with db.transaction():
    db.execute("delete from t")
    for n in range(2000):
        db.execute("insert into t (x) values (?)", ("y" * 1000,))
    os._exit(9)
"""


def test_sqlite_crash_mid_transaction_is_rolled_back_by_a_delete_mode_reader(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "db.sqlite"
    ours = _sqlite(path)
    _table_of(ours, [f"row-{n}" for n in range(500)])
    ours.close()
    crashed = subprocess.run([sys.executable, "-c", _CRASH_MID_TRANSACTION, str(path)], timeout=60)
    assert crashed.returncode == 9
    assert Path(f"{path}-journal").read_bytes()[:8] != bytes(8)  # a hot journal was left behind
    php_like = sqlite3.connect(path)
    assert php_like.execute("select count(*), min(x) from t").fetchone() == (500, "row-0")
    assert php_like.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    php_like.close()


def test_sqlite_rejects_unknown_pragma_values(tmp_path: Path) -> None:
    env = {"DB_CONNECTION": "sqlite", "DB_DATABASE": str(tmp_path / "x.sqlite"), "DB_JOURNAL_MODE": "wal; drop"}
    db = connect(load_settings(environ=env).db_connection())
    with pytest.raises(Exception, match="unsupported SQLite setting"):
        db.fetch_one("select 1 as one")


def test_sqlite_immediate_transaction_excludes_a_second_writer(tmp_path: Path) -> None:
    env = {"DB_CONNECTION": "sqlite", "DB_DATABASE": str(tmp_path / "lock.sqlite"), "DB_BUSY_TIMEOUT": "50"}
    cfg = load_settings(environ=env).db_connection()
    first, second = connect(cfg), connect(cfg)
    first.execute("create table t (x integer)")
    with first.transaction():
        first.fetch_all("select * from t")  # a read is enough: the write lock is already held
        with pytest.raises(ConcurrencyError), second.transaction():
            pass
    with second.transaction():
        second.execute("insert into t (x) values (?)", (1,))
    first.close()
    second.close()


def test_missing_sqlite_directory_is_a_clear_error(tmp_path: Path) -> None:
    env = {"DB_CONNECTION": "sqlite", "DB_DATABASE": str(tmp_path / "nope" / "db.sqlite")}
    db = connect(load_settings(environ=env).db_connection())
    with pytest.raises(Exception, match="directory does not exist"):
        db.fetch_one("select 1 as one")


def test_errors_keep_the_driver_exception(db: Database) -> None:
    with pytest.raises(Exception) as info:
        db.fetch_one("select * from no_such_table_here")
    assert info.value.__cause__ is not None
    cause: Any = info.value.__cause__
    assert not isinstance(cause, sqlite3.Warning)


def test_batch_runs_statements_in_order_and_returns_each_result(db: Database) -> None:
    table = _make_table(db)
    results = db.batch([
        (f"insert into {table} (name) values (?)", ("a",), "rowcount"),
        (f"insert into {table} (name) values (?)", ("b",), "rowcount"),
        (f"select name from {table} order by id", (), "all"),
        (f"select name from {table} where name = ?", ("zz",), "one"),
    ])
    assert results == [1, 1, [{"name": "a"}, {"name": "b"}], None]
    with pytest.raises(ValueError, match="unknown fetch mode"):
        db.batch([("select 1", (), "many")])


def test_begin_and_batch_share_one_round_trip_on_mysql_and_pgsql(db: Database) -> None:
    table = _make_table(db)
    with round_trips(db) as trips, db.transaction():
        db.batch([(f"insert into {table} (name) values (?)", ("a",), "rowcount"),
                  (f"select count(*) as c from {table}", (), "one")])
        db.execute_deferred(f"update {table} set note = ? where name = ?", ("n", "a"))
    if db.dialect != "sqlite":  # one run_many call = one round trip (MULTI_STATEMENTS / pipeline)
        assert [len(trip) for trip in trips] == [3, 2]  # [BEGIN, INSERT, SELECT] then [UPDATE, COMMIT]
    assert db.fetch_value(f"select note from {table}") == "n"


def test_commit_with_ends_the_transaction_in_the_same_round_trip(db: Database) -> None:
    table = _make_table(db)
    commits = db.commits
    with round_trips(db) as calls, db.transaction():
        db.execute_deferred(f"insert into {table} (name) values (?)", ("a",))
        results = db.commit_with([(f"select count(*) as c from {table}", (), "one")])
        with pytest.raises(DatabaseError, match="after commit_with"):
            db.execute(f"insert into {table} (name) values (?)", ("b",))
    assert results == [{"c": 1}]
    assert db.commits - commits == 1
    assert not db.in_transaction
    if db.dialect != "sqlite":  # one run_many call = one round trip
        begin = "BEGIN" if db.dialect == "pgsql" else "START TRANSACTION"
        insert, count = f"insert into {table} (name) values (?)", f"select count(*) as c from {table}"
        assert calls == [[begin, insert, count, "COMMIT"]]
    assert [r["name"] for r in db.fetch_all(f"select name from {table}")] == ["a"]  # committed, "b" never ran


def test_commit_with_error_rolls_the_whole_transaction_back(db: Database) -> None:
    table = _make_table(db)
    db.execute(f"insert into {table} (name) values (?)", ("taken",))
    with pytest.raises(UniqueViolationError), db.transaction():
        db.execute(f"insert into {table} (name) values (?)", ("new",))
        db.commit_with([(f"insert into {table} (name) values (?)", ("taken",), "rowcount")])
    assert [r["name"] for r in db.fetch_all(f"select name from {table} order by id")] == ["taken"]
    assert not db.in_transaction
    with pytest.raises(DatabaseError, match="outermost"), db.transaction(), db.transaction():
        db.commit_with([])
    with db.transaction():  # usable again
        db.commit_with([(f"insert into {table} (name) values (?)", ("later",), "rowcount")])
    assert db.fetch_value(f"select count(*) as c from {table}") == 2


@pytest.mark.parametrize(
    ("driver", "version", "expected"),
    [
        ("mariadb", "5.5.5-10.11.2-MariaDB-log", True),
        ("mysql", "10.1.1-MariaDB", True),
        ("mariadb", "10.0.38-MariaDB", False),
        ("mysql", "8.0.36", False),
        ("pgsql", "15.4", False),
    ],
)
def test_compound_statements_are_a_mariadb_feature(driver: str, version: str, expected: bool) -> None:
    cfg = load_settings(environ={"DB_CONNECTION": driver}).db_connection().model_copy(update={"version": version})
    assert connect(cfg).runs_compound_statements is expected


def _names(db: Database, table: str) -> list[str]:
    return [r["name"] for r in db.fetch_all(f"select name from {table} order by id")]


def test_commit_in_block_runs_a_whole_transaction_as_one_statement(db: Database) -> None:
    if not db.runs_compound_statements:
        assert db.dialect != "mysql"  # the MariaDB here runs them
        with pytest.raises(DatabaseError, match="BEGIN NOT ATOMIC"):
            db.commit_in_block([])
        return
    table = _make_table(db)
    commits = db.commits
    with round_trips(db) as calls:
        row = db.commit_in_block([
            (f"insert into {table} (name) values (?)", ("a",), "rowcount"),
            (f"select count(*) as c, max(name) as m from {table}", (), "one"),
        ])
    assert row == {"c": 1, "m": "a"}
    assert db.commits - commits == 1 and len(calls) == 1 and len(calls[0]) == 1
    assert not db.in_transaction
    other = connect(db.cfg)
    try:
        assert _names(other, table) == ["a"]  # committed
    finally:
        other.close()
    with pytest.raises(DatabaseError, match="inside a transaction"), db.transaction():
        db.commit_in_block([])


@pytest.fixture
def mariadb(mysql_env: dict[str, str]) -> Any:
    database = connect(load_settings(environ=mysql_env).db_connection())
    yield database
    database.close()


def test_commit_in_block_error_rolls_back_in_the_server_and_keeps_its_class(mariadb: Database) -> None:
    """The block's exit handler rolls back and re-raises: the first insert is undone, the error
    is still a duplicate key, and the session is not left inside the block's transaction (a
    later autocommit write is visible to another connection at once)."""
    db = mariadb
    table = _make_table(db)
    db.execute(f"insert into {table} (name) values (?)", ("taken",))
    insert = f"insert into {table} (name) values (?)"
    with pytest.raises(UniqueViolationError):
        db.commit_in_block([(insert, ("new",), "rowcount"), (insert, ("taken",), "rowcount")])
    db.execute(insert, ("later",))
    other = connect(db.cfg)
    try:
        assert _names(other, table) == ["taken", "later"]
    finally:
        other.close()


def test_a_block_the_server_cannot_parse_turns_blocks_off_for_the_connection(mariadb: Database) -> None:
    """What a proxy that rejects BEGIN NOT ATOMIC would cause: the error is raised once, then
    the connection takes MySQL's way (the queue driver's pop checks the flag each time)."""
    table = _make_table(mariadb)
    assert mariadb.runs_compound_statements
    with pytest.raises(DatabaseError, match="1064"):
        mariadb.commit_in_block([(f"insert into {table} (name) valuez (?)", ("a",), "rowcount")])
    assert mariadb.runs_compound_statements is False
    assert not mariadb.in_transaction and _names(mariadb, table) == []
    with pytest.raises(DatabaseError, match="runs no BEGIN NOT ATOMIC"):
        mariadb.commit_in_block([])


def test_commit_in_block_redoes_a_lock_timeout_once_then_raises_it(mariadb: Database) -> None:
    db = mariadb
    table = _make_table(db)
    db.execute(f"insert into {table} (name) values (?)", ("held",))
    db.execute("set session innodb_lock_wait_timeout = 1")
    other = connect(db.cfg)
    try:
        with other.transaction():
            other.execute(f"update {table} set note = ? where name = ?", ("other", "held"))
            with round_trips(db) as calls, pytest.raises(ConcurrencyError):
                db.commit_in_block([
                    (f"insert into {table} (name) values (?)", ("mine",), "rowcount"),
                    (f"update {table} set note = ? where name = ?", ("mine", "held"), "rowcount"),
                ])
        assert len(calls) == 2
        assert _names(other, table) == ["held"]  # both attempts rolled back
    finally:
        other.close()


def test_deferred_write_error_rolls_the_transaction_back(db: Database) -> None:
    table = _make_table(db)
    db.execute(f"insert into {table} (name) values (?)", ("taken",))
    with pytest.raises(UniqueViolationError), db.transaction():
        db.execute(f"insert into {table} (name) values (?)", ("new",))
        db.execute_deferred(f"insert into {table} (name) values (?)", ("taken",))
    assert [r["name"] for r in db.fetch_all(f"select name from {table} order by id")] == ["taken"]
    assert not db.in_transaction
    with db.transaction():  # the connection is usable again
        db.execute(f"insert into {table} (name) values (?)", ("later",))
    assert db.fetch_value(f"select count(*) as c from {table}") == 2


def test_empty_transaction_sends_nothing_on_server_engines(db: Database) -> None:
    seen: list[str] = []
    db.listen(lambda sql, params: seen.append(sql))
    with db.transaction():
        pass
    assert seen == ([] if db.dialect != "sqlite" else [seen[0], "COMMIT"])
