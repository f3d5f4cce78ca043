"""`Database`: one lazily opened connection with Laravel's transaction nesting, reconnects and
one-round-trip commits, over any engine adapter (see the package docstring for the rules)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any, TypeVar

from laravel_queue import compat
from laravel_queue.config.models import DatabaseConnectionConfig
from laravel_queue.db.engine import Engine, Params, Row, Statement
from laravel_queue.db.errors import (
    ConcurrencyError,
    DatabaseConfigError,
    DatabaseError,
    LostConnectionError,
    UniqueViolationError,
)
from laravel_queue.db.mysql import MySqlEngine
from laravel_queue.db.pgsql import PostgresEngine
from laravel_queue.db.sqlite import SqliteEngine

T = TypeVar("T")

_IDENTIFIER = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")
_WRITE_PREFIXES = ("insert", "update", "delete", "replace", "create", "alter", "drop")
_MYSQL_PARSE_ERROR = 1064  # ER_PARSE_ERROR
# `commit_in_block`: an error anywhere rolls back what the block did, then reaches the client
_BLOCK_OPENING = (
    "BEGIN NOT ATOMIC\nDECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;\nSTART TRANSACTION;\n"
)


_ENGINES: dict[str, type[Engine]] = {
    "sqlite": SqliteEngine,
    "mysql": MySqlEngine,
    "mariadb": MySqlEngine,
    "pgsql": PostgresEngine,
}


class Database:
    """One lazily opened connection with Laravel's transaction nesting and reconnects."""

    def __init__(self, cfg: DatabaseConnectionConfig, engine: Engine) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.prefix = cfg.prefix
        self._engine = engine
        self.dialect: str = engine.dialect
        self._conn: Any = None
        self._depth = 0
        self._broken = False
        self._begin_pending = False
        self._deferred: list[Statement] = []
        self._committed = False  # commit_with() ended the outermost transaction already
        self._listeners: list[Callable[[str, tuple[Any, ...]], None]] = []
        self._server_version: str | None = None
        self.commits = 0

    # -- connection management ----------------------------------------------------------------
    def _connection(self) -> Any:
        if self._conn is None:
            try:
                self._conn = self._engine.connect()
            except DatabaseError:
                raise
            except Exception as exc:
                kind = self._engine.classify(exc, None) or DatabaseError
                if kind is DatabaseError or kind is UniqueViolationError:
                    kind = LostConnectionError
                raise kind(f"cannot connect to database [{self.name}]: {exc}") from exc
        return self._conn

    def _discard(self) -> None:
        if self._conn is not None:
            self._engine.close(self._conn)
        self._conn = None

    def reconnect(self) -> None:
        self._discard()
        self._connection()

    def close(self) -> None:
        self._discard()
        self._depth = 0
        self._broken = False
        self._begin_pending = False
        self._deferred = []
        self._committed = False

    @property
    def server_version(self) -> str:
        if self._server_version is None:
            self._server_version = self._engine.server_version(self._connection())
        return self._server_version

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def listen(self, callback: Callable[[str, tuple[Any, ...]], None]) -> None:
        """Call `callback(sql, params)` for every statement sent (BEGIN/COMMIT included)."""
        self._listeners.append(callback)

    # -- statements ---------------------------------------------------------------------------
    def _run(self, sql: str, params: Params, fetch: str) -> Any:
        return self._run_many([(sql, params, fetch)])[0]

    def _run_many(self, statements: Sequence[Statement]) -> list[Any]:
        if self._committed:
            raise DatabaseError(f"[{self.name}] a statement after commit_with() in the same transaction")
        for attempt in (1, 2):
            if self._broken:
                raise LostConnectionError(f"connection [{self.name}] was lost inside this transaction")
            conn = self._connection()
            opening = self._begin_pending
            prefix = ([(self._engine.begin_sql(), (), "rowcount")] if opening else []) + self._deferred
            batch = [*prefix, *statements]
            for listener in self._listeners:
                for sql, params, _ in batch:
                    listener(sql, tuple(params))
            try:
                results = self._engine.run_many(conn, batch)
            except Exception as exc:
                kind = self._engine.classify(exc, conn)
                if kind is None:
                    raise
                if kind is LostConnectionError:
                    self._discard()
                    if attempt == 1 and (self._depth == 0 or opening):
                        continue  # nothing of a transaction had run yet: safe to redo
                    if self._depth > 0:
                        self._broken = True
                elif opening:
                    self._begin_pending = False  # the BEGIN itself ran
                self._deferred = []
                shown = "; ".join(sql for sql, _, _ in batch)
                raise kind(f"[{self.name}] {exc} (SQL: {shown})") from exc
            self._begin_pending = False
            self._deferred = []
            if self._depth == 0:
                self.commits += sum(
                    1 for sql, _, fetch in statements
                    if fetch in ("rowcount", "id") and sql.lstrip()[:7].lower().startswith(_WRITE_PREFIXES)
                )
            return results[len(prefix):]
        raise AssertionError("unreachable")

    def execute_deferred(self, sql: str, params: Params = ()) -> None:
        """Inside a transaction: send this write together with the next statement or the
        COMMIT (one round trip less on MySQL and PostgreSQL). Its row count is not returned;
        an error surfaces from that next statement / commit and rolls the transaction back.
        Outside a transaction it runs at once."""
        if self._depth == 0:
            self.execute(sql, params)
        else:
            self._deferred.append((sql, params, "rowcount"))

    def commit_with(self, statements: Sequence[Statement]) -> list[Any]:
        """End the outermost transaction: run `statements`, then COMMIT, in the same round trip
        as the deferred BEGIN and writes on MySQL and PostgreSQL; returns their results.

        Nothing may run in the transaction afterwards. An error rolls the transaction back
        when `transaction()` unwinds. A connection lost on the way is redone once on a new
        connection, as for any statement that opens a transaction: had the COMMIT already
        applied, the redo is a second transaction, as after any commit whose reply was lost."""
        if self._depth != 1:
            raise DatabaseError(f"[{self.name}] commit_with() must end an outermost transaction")
        results = self._run_many([*statements, ("COMMIT", (), "rowcount")])
        self._committed = True
        return results[:-1]

    @cached_property
    def runs_compound_statements(self) -> bool:
        """MariaDB (10.1.1+): `BEGIN NOT ATOMIC ... END` runs a whole transaction as one
        statement (`commit_in_block`). MySQL has no such statement. An attribute, so a test can
        take the MySQL way on MariaDB."""
        if self.dialect != "mysql":
            return False
        return compat.mariadb_runs_compound_statements(self.cfg.version or self.server_version)

    def commit_in_block(self, statements: Sequence[Statement]) -> Row | None:
        """MariaDB: START TRANSACTION, `statements`, COMMIT as one compound statement, outside
        any transaction. The server runs them without a reply in between: 13-16% less time per
        worker pop here than the same statements sent together under MULTI_STATEMENTS
        (benchmarks/ab_mariadb_pop_packets.py). Returns the first row of the first result set
        (only a SELECT without INTO makes one); no row counts come back.

        An error rolls the transaction back inside the block and is raised again; a deadlock
        or a lost connection is redone once, as by `run_transaction` (a lost reply after the
        COMMIT applied: the redo is a second transaction, as for `commit_with`). A syntax
        error (say, a proxy in front of MariaDB that rejects the block) also turns
        `runs_compound_statements` off for this connection: callers take MySQL's way after."""
        if self._depth != 0:
            raise DatabaseError(f"[{self.name}] commit_in_block() cannot run inside a transaction")
        if not self.runs_compound_statements:
            raise DatabaseError(f"[{self.name}] this server runs no BEGIN NOT ATOMIC blocks")
        block = "".join([_BLOCK_OPENING, *(f"{sql};\n" for sql, _, _ in statements), "COMMIT;\nEND"])
        params = tuple(value for _, values, _ in statements for value in values)
        for attempt in (1, 2):
            try:
                row = self._run(block, params, "one")
            except ConcurrencyError:
                if attempt == 2:
                    raise
                continue
            except DatabaseError as exc:
                if getattr(exc.__cause__, "args", (None,))[:1] == (_MYSQL_PARSE_ERROR,):
                    self.runs_compound_statements = False
                raise
            self.commits += 1
            return row  # type: ignore[no-any-return]
        raise AssertionError("unreachable")

    def batch(self, statements: Sequence[Statement]) -> list[Any]:
        """Run `(sql, params, fetch)` statements in order, in one round trip where the engine
        allows it (MySQL, PostgreSQL); fetch is 'rowcount', 'one', 'all' or 'id'. Atomic only
        inside a transaction."""
        for _, _, fetch in statements:
            if fetch not in ("rowcount", "one", "all", "id"):
                raise ValueError(f"unknown fetch mode {fetch!r}")
        return self._run_many(statements) if statements else []

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; returns the affected row count."""
        return int(self._run(sql, params, "rowcount") or 0)

    def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        return self._run(sql, params, "one")  # type: ignore[no-any-return]

    def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(self._run(sql, params, "all"))

    def execute_returning(self, sql: str, params: Params = ()) -> Row | None:
        """A write that returns a row (`... returning`, PostgreSQL); counted as one durable
        commit when it runs outside a transaction, like `execute`."""
        row = self._run(sql, params, "one")
        if self._depth == 0:
            self.commits += 1
        return row  # type: ignore[no-any-return]

    def fetch_value(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None."""
        row = self.fetch_one(sql, params)
        return None if row is None else next(iter(row.values()))

    def insert_get_id(self, sql: str, params: Params = (), id_column: str = "id") -> int:
        """Run an INSERT and return the new auto-increment id (`returning` on PostgreSQL)."""
        if self.dialect == "pgsql":
            sql = f"{sql} returning {self.quote_identifier(id_column)}"
        return int(self._run(sql, params, "id"))

    # -- transactions -------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """BEGIN/COMMIT at the outermost level, SAVEPOINT trans<N> when nested.

        On MySQL and PostgreSQL the BEGIN travels with the first statement."""
        level = self._depth + 1
        if level == 1:
            self._broken = False
            if self._engine.defers_begin:
                self._begin_pending = True
            else:
                self._run(self._engine.begin_sql(), (), "rowcount")
        else:
            self._run(f"SAVEPOINT trans{level}", (), "rowcount")
        self._depth = level
        try:
            yield self
        except BaseException:
            self._depth = level - 1
            if level == 1:
                self._deferred = []
            if level == 1 and self._begin_pending:
                self._begin_pending = False
            elif level == 1 and self._committed:
                pass  # commit_with() already ended it: nothing to roll back
            elif self._conn is not None and not self._broken:
                try:
                    sql = "ROLLBACK" if level == 1 else f"ROLLBACK TO SAVEPOINT trans{level}"
                    self._run(sql, (), "rowcount")
                except DatabaseError:
                    self._discard()
                    self._broken = level > 1
            if level == 1:
                self._broken = False
                self._committed = False
            raise
        try:
            if self._broken:
                raise LostConnectionError(f"connection [{self.name}] was lost inside this transaction")
            if level > 1:
                self._run(f"RELEASE SAVEPOINT trans{level}", (), "rowcount")
            elif self._committed:
                self.commits += 1
            elif self._begin_pending and not self._deferred:
                self._begin_pending = False  # nothing was sent: nothing to commit
            else:
                self._run("COMMIT", (), "rowcount")
                self.commits += 1
        except BaseException:
            if level == 1 and self._conn is not None:
                try:  # e.g. a deferred write failed right before COMMIT: end the transaction
                    self._engine.run(self._conn, "ROLLBACK", (), "rowcount")
                except Exception:
                    self._discard()
            raise
        finally:
            self._depth = level - 1
            if level == 1:
                self._broken = False
                self._committed = False

    def run_transaction(self, callback: Callable[[], T], attempts: int = 2) -> T:
        """`callback()` inside a transaction; a lost connection or a deadlock/busy error
        rolls everything back, reconnects and runs it again (up to `attempts` times).

        Only at the outermost level: inside a caller's transaction there is nothing safe
        to retry, so errors propagate."""
        if self._depth > 0:
            with self.transaction():
                return callback()
        for attempt in range(1, attempts + 1):
            try:
                with self.transaction():
                    return callback()
            except (LostConnectionError, ConcurrencyError):
                if attempt >= attempts:
                    raise
                if self._conn is None:
                    continue
        raise AssertionError("unreachable")

    # -- identifiers and capabilities -----------------------------------------------------------
    def quote_identifier(self, name: str) -> str:
        """Quote a (possibly dotted) identifier; only [A-Za-z0-9_.] is accepted."""
        if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"invalid SQL identifier {name!r}: only letters, digits, '_' and '.' are allowed")
        q = self._engine.quote_char
        return ".".join(f"{q}{part}{q}" for part in name.split("."))

    def table(self, name: str) -> str:
        """A table name with the connection's prefix, quoted (Laravel's `wrapTable`)."""
        schema, _, bare = name.rpartition(".")
        prefixed = f"{schema}.{self.prefix}{bare}" if schema else f"{self.prefix}{name}"
        return self.quote_identifier(prefixed)

    def supports_skip_locked(self) -> bool:
        """Laravel's rule: MySQL >= 8.0.1, MariaDB >= 10.6, PostgreSQL >= 9.5 (`version` config wins)."""
        if self.dialect == "sqlite":
            return False
        return compat.supports_skip_locked(self.dialect, self.cfg.version or self.server_version)

    def __repr__(self) -> str:
        return f"<Database {self.name} ({self.dialect})>"


def connect(cfg: DatabaseConnectionConfig) -> Database:
    """A `Database` for one configured connection (the network connection opens on first use)."""
    try:
        engine_class = _ENGINES[cfg.driver]
    except KeyError:
        raise DatabaseConfigError(f"database driver [{cfg.driver}] is not supported") from None
    return Database(cfg, engine_class(cfg))

