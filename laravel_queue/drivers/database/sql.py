"""Laravel's SQL for the `jobs` table (its grammar's output, every engine), built once per queue."""

from __future__ import annotations

from laravel_queue.db import Database
from laravel_queue.drivers.database.pgsql import pop_acked

COLUMNS = ("queue", "attempts", "reserved_at", "available_at", "created_at", "payload")
BULK_COLUMNS = tuple(sorted(COLUMNS))  # Laravel sorts columns of a multi-row insert


def laravel_statements(db: Database, table: str) -> dict[str, str]:
    """Laravel's statements for the `jobs` table on `db`, by name (PostgreSQL adds `pop_acked`)."""
    t = db.table(table)
    q = db.quote_identifier
    cols = ", ".join(q(c) for c in COLUMNS)
    row_lock = "" if db.dialect == "sqlite" else " for update"
    pop_lock = candidate_lock(db)
    queue = f"{q('queue')} = ?"
    pending = f"{queue} and {q('reserved_at')} is null and {q('available_at')} <= ?"
    return {
        "insert": f"insert into {t} ({cols}) values (?, ?, ?, ?, ?, ?)",
        "select_next": (
            f"select * from {t} where {queue} and (({q('reserved_at')} is null and {q('available_at')} <= ?)"
            f" or ({q('reserved_at')} <= ?)) order by {q('id')} asc limit 1{pop_lock}"
        ),
        "reserve": f"update {t} set {q('reserved_at')} = ?, {q('attempts')} = ? where {q('id')} = ?",
        "find_locked": f"select * from {t} where {q('id')} = ? limit 1{row_lock}",
        "delete": f"delete from {t} where {q('id')} = ?",
        "size": f"select count(*) as aggregate from {t} where {queue}",
        "pending": f"select count(*) as aggregate from {t} where {pending}",
        "delayed": (
            f"select count(*) as aggregate from {t} where {queue} and {q('reserved_at')} is null"
            f" and {q('available_at')} > ?"
        ),
        "reserved": f"select count(*) as aggregate from {t} where {queue} and {q('reserved_at')} is not null",
        "oldest": f"select {q('available_at')} from {t} where {pending} order by {q('available_at')} asc limit 1",
        "clear": f"delete from {t} where {queue}",
        **(pop_acked(db, table, pop_lock) if db.dialect == "pgsql" else {}),
    }


def candidate_lock(db: Database) -> str:
    """Laravel's lock clause for the candidate SELECT: SKIP LOCKED where the server has it."""
    if db.supports_skip_locked():
        return " FOR UPDATE SKIP LOCKED"
    return "" if db.dialect == "sqlite" else " for update"
