"""`migrate`: Laravel's tables, columns and indexes on each engine; never alters existing tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from laravel_queue.cli import app
from laravel_queue.db import Database
from laravel_queue.schema import CACHE, JOBS, create_table_sql, migrate

ALL_TABLES = ["jobs", "job_batches", "failed_jobs", "cache", "cache_locks"]

# (column, nullable) per table, in Laravel's order
EXPECTED_COLUMNS = {
    "jobs": [
        ("id", False),
        ("queue", False),
        ("payload", False),
        ("attempts", False),
        ("reserved_at", True),
        ("available_at", False),
        ("created_at", False),
    ],
    "job_batches": [
        ("id", False),
        ("name", False),
        ("total_jobs", False),
        ("pending_jobs", False),
        ("failed_jobs", False),
        ("failed_job_ids", False),
        ("options", True),
        ("cancelled_at", True),
        ("created_at", False),
        ("finished_at", True),
    ],
    "failed_jobs": [
        ("id", False),
        ("uuid", False),
        ("connection", False),
        ("queue", False),
        ("payload", False),
        ("exception", False),
        ("failed_at", False),
    ],
    "cache": [("key", False), ("value", False), ("expiration", False)],
    "cache_locks": [("key", False), ("owner", False), ("expiration", False)],
}

EXPECTED_TYPES = {
    "mysql": {
        ("jobs", "id"): "bigint(20) unsigned",
        ("jobs", "queue"): "varchar(255)",
        ("jobs", "payload"): "longtext",
        ("jobs", "attempts"): "tinyint(3) unsigned",
        ("jobs", "reserved_at"): "int(10) unsigned",
        ("cache", "value"): "mediumtext",
        ("cache", "expiration"): "int(11)",
        ("failed_jobs", "failed_at"): "timestamp",
        ("job_batches", "options"): "mediumtext",
    },
    "pgsql": {
        ("jobs", "id"): "bigint",
        ("jobs", "queue"): "character varying",
        ("jobs", "payload"): "text",
        ("jobs", "attempts"): "smallint",
        ("jobs", "reserved_at"): "integer",
        ("cache", "value"): "text",
        ("failed_jobs", "failed_at"): "timestamp without time zone",
    },
    "sqlite": {
        ("jobs", "id"): "INTEGER",
        ("jobs", "queue"): "varchar",
        ("jobs", "payload"): "TEXT",
        ("jobs", "attempts"): "INTEGER",
        ("cache", "value"): "TEXT",
        ("failed_jobs", "failed_at"): "datetime",
    },
}


def columns(db: Database, table: str) -> list[tuple[str, bool, str]]:
    if db.dialect == "sqlite":
        rows = db.fetch_all(f"PRAGMA table_info({db.quote_identifier(table)})")
        return [(r["name"], not r["notnull"] and not r["pk"], r["type"]) for r in rows]
    if db.dialect == "mysql":
        rows = db.fetch_all(
            "select column_name as name, is_nullable as nullable, column_type as type from information_schema.columns"
            " where table_schema = database() and table_name = ? order by ordinal_position",
            (table,),
        )
    else:
        rows = db.fetch_all(
            "select column_name as name, is_nullable as nullable, data_type as type from information_schema.columns"
            " where table_schema = current_schema() and table_name = ? order by ordinal_position",
            (table,),
        )
    return [(r["name"], r["nullable"] == "YES", str(r["type"])) for r in rows]


def indexes(db: Database) -> set[tuple[str, str, bool]]:
    """(table, index name, unique) for the non-primary indexes."""
    if db.dialect == "sqlite":
        found = set()
        for table in ALL_TABLES:
            for row in db.fetch_all(f"PRAGMA index_list({db.quote_identifier(table)})"):
                if row["origin"] != "pk":
                    found.add((table, row["name"], bool(row["unique"])))
        return found
    if db.dialect == "mysql":
        rows = db.fetch_all(
            "select distinct table_name as t, index_name as i, non_unique as n from information_schema.statistics"
            " where table_schema = database() and index_name <> 'PRIMARY'"
        )
        return {(r["t"], r["i"], not r["n"]) for r in rows}
    rows = db.fetch_all(
        "select tablename as t, indexname as i, indexdef as d from pg_indexes where schemaname = current_schema()"
        " and indexname not like '%_pkey'"
    )
    return {(r["t"], r["i"], r["d"].startswith("CREATE UNIQUE")) for r in rows}


def primary_keys(db: Database, table: str) -> list[str]:
    if db.dialect == "sqlite":
        return [r["name"] for r in db.fetch_all(f"PRAGMA table_info({db.quote_identifier(table)})") if r["pk"]]
    schema = "database()" if db.dialect == "mysql" else "current_schema()"
    rows = db.fetch_all(
        "select k.column_name as c from information_schema.table_constraints t"
        " join information_schema.key_column_usage k on t.constraint_name = k.constraint_name"
        " and t.table_name = k.table_name and t.table_schema = k.table_schema"
        f" where t.constraint_type = 'PRIMARY KEY' and t.table_schema = {schema} and t.table_name = ?",
        (table,),
    )
    return [r["c"] for r in rows]


def test_migrate_creates_laravels_tables(db: Database) -> None:
    assert migrate(db) == ALL_TABLES
    for table, expected in EXPECTED_COLUMNS.items():
        found = columns(db, table)
        assert [(name, nullable) for name, nullable, _ in found] == expected, table
        types = {(table, name): sql_type for name, _, sql_type in found}
        for key, sql_type in EXPECTED_TYPES[db.dialect].items():
            if key[0] == table:
                assert types[key].lower() == sql_type.lower(), key
    assert indexes(db) == {
        ("jobs", "jobs_queue_index", False),
        ("failed_jobs", "failed_jobs_uuid_unique", True),
        ("cache", "cache_expiration_index", False),
        ("cache_locks", "cache_locks_expiration_index", False),
    }
    assert primary_keys(db, "jobs") == ["id"]
    assert primary_keys(db, "cache") == ["key"]
    assert primary_keys(db, "job_batches") == ["id"]


def test_migrate_is_idempotent_and_never_alters(db: Database) -> None:
    db.execute(f"create table {db.table('jobs')} (id integer primary key, custom_column text)")
    assert migrate(db) == ["job_batches", "failed_jobs", "cache", "cache_locks"]
    assert [name for name, _, _ in columns(db, "jobs")] == ["id", "custom_column"]
    assert migrate(db) == []


def test_failed_at_defaults_to_now_and_legacy_table_has_no_uuid(db: Database) -> None:
    assert migrate(db, jobs_table=None, batches_table=None, cache_table=None, lock_table=None, failed_uuids=False) == [
        "failed_jobs"
    ]
    assert "uuid" not in [name for name, _, _ in columns(db, "failed_jobs")]
    db.execute(
        f"insert into {db.table('failed_jobs')} (connection, queue, payload, exception) values (?, ?, ?, ?)",
        ("c", "q", "{}", "e"),
    )
    assert db.fetch_value(f"select failed_at from {db.table('failed_jobs')}") is not None


def test_ddl_text_is_laravels_grammar_output(db: Database) -> None:
    jobs = create_table_sql(db, "jobs", JOBS)
    cache = create_table_sql(db, "cache", CACHE)
    if db.dialect == "mysql":
        assert jobs == [
            "create table `jobs` (`id` bigint unsigned not null auto_increment primary key,"
            " `queue` varchar(255) not null, `payload` longtext not null, `attempts` tinyint unsigned not null,"
            " `reserved_at` int unsigned null,"
            " `available_at` int unsigned not null, `created_at` int unsigned not null)"
            " default character set utf8mb4 collate 'utf8mb4_unicode_ci'",
            "alter table `jobs` add index `jobs_queue_index`(`queue`)",
        ]
        assert cache[0].endswith(
            "`expiration` int not null, primary key (`key`)) default character set utf8mb4 collate 'utf8mb4_unicode_ci'"
        )
    elif db.dialect == "sqlite":
        assert jobs == [
            'create table "jobs" ("id" integer primary key autoincrement not null, "queue" varchar not null,'
            ' "payload" text not null, "attempts" integer not null, "reserved_at" integer,'
            ' "available_at" integer not null, "created_at" integer not null)',
            'create index "jobs_queue_index" on "jobs" ("queue")',
        ]
    else:
        assert jobs[0].startswith('create table "jobs" ("id" bigserial not null primary key,')
        assert jobs[1] == 'create index "jobs_queue_index" on "jobs" ("queue")'


def _env_file(tmp_path: Path, env: dict[str, Any]) -> Path:
    path = tmp_path / ".env"
    path.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    return path


def test_cli_migrate_creates_each_table_on_its_connection(db_env: dict[str, str], db: Database, tmp_path: Path) -> None:
    env_file = _env_file(tmp_path, db_env)
    runner = CliRunner()
    result = runner.invoke(app, ["migrate", "--env-file", str(env_file)], env={k: None for k in db_env})
    assert result.exit_code == 0, result.output
    for table in ALL_TABLES:
        assert f"Created table [{table}]" in result.output
    again = runner.invoke(app, ["migrate", "--env-file", str(env_file)], env={k: None for k in db_env})
    assert again.exit_code == 0
    assert "Nothing to migrate" in again.output
    assert sorted(name for name in ALL_TABLES if columns(db, name)) == sorted(ALL_TABLES)


def test_cli_migrate_legacy_failed_driver_and_custom_tables(sqlite_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **sqlite_env,
        "QUEUE_FAILED_DRIVER": "database",
        "DB_QUEUE_TABLE": "queue_jobs",
        "DB_CACHE_TABLE": "app_cache",
    }
    result = CliRunner().invoke(
        app, ["migrate", "--env-file", str(_env_file(tmp_path, env))], env={k: None for k in env}
    )
    assert result.exit_code == 0, result.output
    assert "Created table [queue_jobs]" in result.output
    assert "Created table [app_cache]" in result.output
    import sqlite3

    conn = sqlite3.connect(sqlite_env["DB_DATABASE"])
    failed_columns = [row[1] for row in conn.execute("PRAGMA table_info(failed_jobs)")]
    conn.close()
    assert "uuid" not in failed_columns


def test_cli_migrate_reports_a_bad_connection(tmp_path: Path) -> None:
    env = {"DB_CONNECTION": "mariadb", "DB_HOST": "127.0.0.1", "DB_PORT": "1", "DB_DATABASE": "x"}
    result = CliRunner().invoke(
        app, ["migrate", "--env-file", str(_env_file(tmp_path, env))], env={k: None for k in env}
    )
    assert result.exit_code == 1
    assert "Migration failed" in result.output


def test_cli_migrate_on_a_fresh_app_creates_the_default_sqlite_database(tmp_path: Path) -> None:
    """The README's first command: no .env, Laravel's default `database/database.sqlite`."""
    app_root = tmp_path / "app"
    app_root.mkdir()
    result = CliRunner().invoke(
        app, ["migrate", "--app", str(app_root)], env={"DB_CONNECTION": None, "DB_DATABASE": None}
    )
    assert result.exit_code == 0, result.output
    assert (app_root / "database" / "database.sqlite").exists()
    assert "Created table [jobs]" in result.output
