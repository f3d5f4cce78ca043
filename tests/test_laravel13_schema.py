"""`migrate` under LARAVEL_VERSION=13: Laravel 13's jobs and failed_jobs shapes, on every engine."""

from __future__ import annotations

from typing import Any

from laravel_queue.db import Database
from laravel_queue.schema import FAILED_JOBS, JOBS, create_table_sql, migrate, table_specs


def test_laravel_13_statements(db: Database) -> None:
    jobs = " ".join(create_table_sql(db, "jobs", table_specs((13, 26))["jobs"]))
    failed = " ".join(create_table_sql(db, "failed_jobs", table_specs((13, 26))["failed_jobs"]))
    q = db.quote_identifier
    small = {"mysql": "smallint unsigned", "pgsql": "smallint", "sqlite": "integer"}[db.dialect]
    assert f"{q('attempts')} {small} not null" in jobs
    string = "varchar" if db.dialect == "sqlite" else "varchar(255)"
    assert f"{q('connection')} {string} not null" in failed and f"{q('queue')} {string} not null" in failed
    index = f"{q('failed_jobs_connection_queue_failed_at_index')}"
    assert index in failed and f"{q('connection')}, {q('queue')}, {q('failed_at')}" in failed


def test_laravel_12_statements_are_unchanged(db: Database) -> None:
    for table, spec in (("jobs", JOBS), ("failed_jobs", FAILED_JOBS)):
        assert create_table_sql(db, table, table_specs((12, 99))[table]) == create_table_sql(db, table, spec)


def test_migrated_13_tables_take_more_than_255_attempts(db: Database) -> None:
    assert set(migrate(db, version=(13, 0))) >= {"jobs", "failed_jobs"}
    q = db.quote_identifier
    db.execute(
        f"insert into {db.table('jobs')} ({q('queue')}, {q('payload')}, {q('attempts')}, {q('available_at')},"
        f" {q('created_at')}) values (?, ?, ?, ?, ?)",
        ("default", "{}", 300, 1, 1),
    )
    row: Any = db.fetch_one(f"select {q('attempts')} from {db.table('jobs')}")
    assert row["attempts"] == 300
