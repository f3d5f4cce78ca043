"""Count what a Database sends to its server, one entry per round trip."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from laravel_queue.db import Database, Statement


@contextmanager
def round_trips(db: Database) -> Iterator[list[list[str]]]:
    """The SQL of each engine call `db` makes inside the block, one list per call. On MySQL
    (MULTI_STATEMENTS) and PostgreSQL (pipeline) one call is one round trip."""
    engine: Any = db._engine
    run_many = engine.run_many
    trips: list[list[str]] = []

    def recording(conn: Any, statements: Sequence[Statement]) -> Any:
        trips.append([sql for sql, _, _ in statements])
        return run_many(conn, statements)

    engine.run_many = recording
    try:
        yield trips
    finally:
        engine.run_many = run_many
