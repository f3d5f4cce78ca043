"""`queue:prune-batches`: Laravel's DatabaseBatchRepository prune, pruneUnfinished, pruneCancelled.

Rows are read and written through `laravel_queue.bus.batches.BatchRepository` (same
table and connection as the worker's batch bookkeeping); the deletes run 1000 rows
at a time, as Laravel's do, so a large table is never locked in one statement.
"""

from __future__ import annotations

from datetime import datetime

from laravel_queue.bus.batches import BatchRepository

PRUNE_CHUNK = 1000


def prune_finished(repository: BatchRepository, before: datetime) -> int:
    """Finished batches whose `finished_at` is before the moment."""
    return _prune(repository, "finished_at", "finished_at", before)


def prune_unfinished(repository: BatchRepository, before: datetime) -> int:
    """Unfinished batches created before the moment."""
    return _prune(repository, "finished_at", "created_at", before, present=False)


def prune_cancelled(repository: BatchRepository, before: datetime) -> int:
    """Cancelled batches created before the moment."""
    return _prune(repository, "cancelled_at", "created_at", before)


def _prune(repository: BatchRepository, marker: str, age: str, before: datetime, *, present: bool = True) -> int:
    """Delete rows where `marker` is (not) null and `age` < before, a chunk at a time."""
    db = repository.db
    q = db.quote_identifier
    table = db.table(repository.table_name)
    condition = f"{q(marker)} is {'not ' if present else ''}null and {q(age)} < ?"
    if db.dialect == "mysql":
        sql = f"delete from {table} where {condition} limit {PRUNE_CHUNK}"
    else:  # SQLite and PostgreSQL have no DELETE ... LIMIT
        chunk = f"select {q('id')} from {table} where {condition} limit {PRUNE_CHUNK}"
        sql = f"delete from {table} where {q('id')} in ({chunk})"
    cutoff = int(before.timestamp())
    total: int = 0
    while True:
        deleted = db.execute(sql, (cutoff,))
        total += deleted
        if deleted == 0:
            return total
