"""One small SQL connection API over SQLite, MySQL/MariaDB and PostgreSQL.

Laravel's `Connection` reduced to what a queue worker needs, so the queue driver,
failed-job providers, batches, cache store and scheduler write the same SQL on every
engine without knowing the client library.

Usage (every caller uses `?` placeholders; values are always bound, never formatted in)::

    db = connect(settings.db_connection())          # or Connections(settings).db()
    table = db.table("jobs")                        # quoted, with the connection's prefix
    db.execute(f"delete from {table} where id = ?", (5,))           -> rowcount
    db.fetch_one(f"select * from {table} where id = ?", (5,))       -> dict | None
    db.fetch_all(f"select * from {table}")                          -> list[dict]
    db.insert_get_id(f"insert into {table} (queue) values (?)", ("default",))  -> int
    db.execute_returning(f"update {table} set ... returning *", params)  -> dict | None
    with db.transaction():          # nests with savepoints (trans2, trans3, ...)
        ...
    db.run_transaction(fn)          # fn() in a transaction, retried once (see below)
    db.batch([(sql, params, "one"), ...])   # several statements, one round trip (MySQL, pgsql)
    db.execute_deferred(sql, params)        # inside a transaction: sent with the COMMIT
    db.commit_with([(sql, params, "one"), ...])  # last in a transaction: these, then COMMIT, one trip
    db.commit_in_block([(sql, params, "one"), ...])  # MariaDB: a whole transaction as one statement

Rules that hold on every engine:

* `dialect` is 'sqlite', 'mysql' (MySQL and MariaDB) or 'pgsql'.
* Identifiers go through `quote_identifier` / `table`, which accept only
  `[A-Za-z0-9_.]`; anything else raises `ValueError` before reaching SQL.
* Errors are re-raised as `DatabaseError` subclasses (`LostConnectionError`, `MissingTableError`,
  `UniqueViolationError`, `ConcurrencyError`, `DatabaseConfigError`) with the driver exception as `__cause__`.
* A lost connection ("server has gone away", a killed session) outside a transaction is
  reconnected and the statement retried once. Inside a transaction the transaction is
  gone, so the error propagates; `run_transaction` then reconnects and runs the whole
  callback once more (also after a deadlock / lock timeout / SQLITE_BUSY).
* SQLite transactions start with `BEGIN IMMEDIATE` (unless `transaction_mode` is set),
  so two processes can never both read-then-write the same row; the busy timeout is
  `busy_timeout` ms, else PDO's default of 60 s. `journal_mode` and `synchronous` are
  applied only when configured, as Laravel's SQLite connection does: a user's database is
  never switched to WAL behind their back.
* On MySQL/MariaDB and PostgreSQL the BEGIN travels with the transaction's first
  statement and `batch`/`execute_deferred` share one round trip (MySQL: MULTI_STATEMENTS,
  every value still escaped; PostgreSQL: libpq pipeline mode, every value still bound).
  `commit_with` ends a transaction with its COMMIT in that same round trip: that is how
  the queue driver pops on MySQL in one round trip and one commit. On MariaDB
  (`runs_compound_statements`) `commit_in_block` sends the whole transaction as one
  `BEGIN NOT ATOMIC` block, which the server runs without a reply per statement.
* `commits` counts durable commits (outermost COMMIT, or a write outside a transaction);
  `listen(callback)` receives `(sql, params)` for every statement, like `DB::listen`.

Modules: `errors`, `engine` (the adapter contract), `sqlite`, `mysql`, `pgsql`, `connection`.
"""

from __future__ import annotations

from laravel_queue.db.connection import _BLOCK_OPENING, Database, connect
from laravel_queue.db.engine import Params, Row, Statement, _to_format_style
from laravel_queue.db.errors import (
    ConcurrencyError,
    DatabaseConfigError,
    DatabaseError,
    LostConnectionError,
    MissingTableError,
    UniqueViolationError,
)
from laravel_queue.db.sqlite import PERSISTED_JOURNAL_LIMIT

__all__ = [
    "PERSISTED_JOURNAL_LIMIT",
    "_BLOCK_OPENING",
    "ConcurrencyError",
    "Database",
    "DatabaseConfigError",
    "DatabaseError",
    "LostConnectionError",
    "MissingTableError",
    "Params",
    "Row",
    "Statement",
    "UniqueViolationError",
    "_to_format_style",
    "connect",
]
