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
* Errors are re-raised as `DatabaseError` subclasses (`LostConnectionError`,
  `UniqueViolationError`, `ConcurrencyError`) with the driver exception as `__cause__`.
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
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, TypeVar

from laravel_queue import compat
from laravel_queue.config.settings import DatabaseConnectionConfig

T = TypeVar("T")
Params = Sequence[Any]
Row = dict[str, Any]
Statement = tuple[str, Params, str]  # sql, params, fetch mode: rowcount | one | all | id

_IDENTIFIER = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")
_WRITE_PREFIXES = ("insert", "update", "delete", "replace", "create", "alter", "drop")
_MYSQL_PARSE_ERROR = 1064  # ER_PARSE_ERROR
# `commit_in_block`: an error anywhere rolls back what the block did, then reaches the client
_BLOCK_OPENING = (
    "BEGIN NOT ATOMIC\nDECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;\nSTART TRANSACTION;\n"
)


class DatabaseError(Exception):
    """A statement failed; the driver's own exception is attached as `__cause__`."""


class LostConnectionError(DatabaseError):
    """The server connection dropped; nothing after the last commit is kept."""


class UniqueViolationError(DatabaseError):
    """An INSERT/UPDATE hit a primary-key or unique index."""


class ConcurrencyError(DatabaseError):
    """Deadlock, lock wait timeout, serialization failure or SQLITE_BUSY: safe to retry."""


# -- placeholder translation --------------------------------------------------------------


@lru_cache(maxsize=512)
def _to_format_style(sql: str) -> str:
    """`?` -> `%s` outside quotes and `%` -> `%%` everywhere (pymysql / psycopg syntax)."""
    out: list[str] = []
    quote = ""
    for char in sql:
        if quote:
            if char == quote:
                quote = ""
        elif char in ("'", '"', "`"):
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        out.append("%%" if char == "%" else char)
    return "".join(out)


# -- engine adapters ------------------------------------------------------------------------


class _Engine:
    """What differs per client library: connecting, running, classifying errors."""

    dialect = ""
    quote_char = '"'
    defers_begin = False  # send BEGIN with the transaction's first statement

    def __init__(self, cfg: DatabaseConnectionConfig) -> None:
        self.cfg = cfg

    def connect(self) -> Any:
        raise NotImplementedError

    def server_version(self, conn: Any) -> str:
        raise NotImplementedError

    def begin_sql(self) -> str:
        return "BEGIN"

    def run(self, conn: Any, sql: str, params: Params, fetch: str) -> Any:
        raise NotImplementedError

    def run_many(self, conn: Any, statements: Sequence[Statement]) -> list[Any]:
        """Several statements; engines that can send them in one round trip override this."""
        return [self.run(conn, sql, params, fetch) for sql, params, fetch in statements]

    def classify(self, exc: Exception, conn: Any) -> type[DatabaseError] | None:
        """Our error class for a driver exception, or None when it is not a database error."""
        raise NotImplementedError

    def close(self, conn: Any) -> None:
        with suppress(Exception):
            conn.close()


class _SqliteEngine(_Engine):
    dialect = "sqlite"
    _JOURNAL_MODES = ("delete", "truncate", "persist", "memory", "wal", "off")
    _SYNCHRONOUS = ("off", "normal", "full", "extra", "0", "1", "2", "3")
    _TRANSACTION_MODES = ("deferred", "immediate", "exclusive")

    def connect(self) -> sqlite3.Connection:
        cfg = self.cfg
        path = cfg.database
        if path != ":memory:" and not Path(path).parent.is_dir():
            raise DatabaseError(f"SQLite database directory does not exist for [{path}] (connection {cfg.name})")
        busy_ms = cfg.busy_timeout if cfg.busy_timeout is not None else 60_000
        conn = sqlite3.connect(path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False)
        conn.row_factory = _dict_row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
        if cfg.journal_mode is not None:
            conn.execute(f"PRAGMA journal_mode = {self._checked(cfg.journal_mode, self._JOURNAL_MODES)}")
        elif path != ":memory:":
            _keep_journal_file(conn)
        if cfg.synchronous is not None:
            conn.execute(f"PRAGMA synchronous = {self._checked(cfg.synchronous, self._SYNCHRONOUS)}")
        return conn

    def _checked(self, value: str, allowed: tuple[str, ...]) -> str:
        if value.lower() not in allowed:
            raise DatabaseError(f"unsupported SQLite setting {value!r} (allowed: {', '.join(allowed)})")
        return value.upper()

    def begin_sql(self) -> str:
        mode = (self.cfg.transaction_mode or "immediate").lower()
        if mode not in self._TRANSACTION_MODES:
            raise DatabaseError(f"DB_TRANSACTION_MODE must be one of {', '.join(self._TRANSACTION_MODES)}")
        return f"BEGIN {mode.upper()}"

    def server_version(self, conn: Any) -> str:
        return sqlite3.sqlite_version

    def run(self, conn: sqlite3.Connection, sql: str, params: Params, fetch: str) -> Any:
        cursor = conn.execute(sql, tuple(params))
        if fetch == "one":
            return cursor.fetchone()
        if fetch == "all":
            return cursor.fetchall()
        if fetch == "id":
            return cursor.lastrowid
        return cursor.rowcount

    def classify(self, exc: Exception, conn: Any) -> type[DatabaseError] | None:
        if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(exc):
            return UniqueViolationError
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            return ConcurrencyError
        if isinstance(exc, sqlite3.Error):
            return DatabaseError
        return None


PERSISTED_JOURNAL_LIMIT = 1 << 20  # bytes a kept -journal file may hold between transactions


def _keep_journal_file(conn: sqlite3.Connection) -> None:
    """A database in SQLite's default rollback-journal mode (DELETE; Laravel leaves it so) is
    journaled by this connection with PERSIST: the same commit protocol and durability, but
    the -journal file is reused instead of created, synced with its directory and unlinked
    at every commit. On ext4 that is a metadata commit less per transaction (about 20% more
    jobs/s). The mode is this connection's own: PHP's connections keep DELETE (SQLite lets
    rollback modes mix), a WAL database is left as it is, and the kept file is not a hot
    journal (its header is zeroed at each commit) and never grows past PERSISTED_JOURNAL_LIMIT."""
    row = conn.execute("PRAGMA journal_mode").fetchone()
    if row is not None and str(row["journal_mode"]).lower() == "delete":
        conn.execute("PRAGMA journal_mode = PERSIST")
        conn.execute(f"PRAGMA journal_size_limit = {PERSISTED_JOURNAL_LIMIT}")


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=False)}


class _MySqlEngine(_Engine):
    dialect = "mysql"
    quote_char = "`"
    defers_begin = True
    _LOST_CODES = frozenset({2006, 2013, 2014, 2045, 2055, 1927, 4031})
    _CONCURRENCY_CODES = frozenset({1205, 1213})
    _SQL_MODE = (
        "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
        "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
    )

    def connect(self) -> Any:
        import pymysql

        cfg = self.cfg
        collation = "utf8mb4_unicode_ci" if cfg.charset == "utf8mb4" else None
        names = f"SET NAMES '{cfg.charset}'" + (f" COLLATE '{collation}'" if collation else "")
        if not re.fullmatch(r"[A-Za-z0-9_]+", cfg.charset):
            raise DatabaseError(f"invalid DB_CHARSET {cfg.charset!r}")
        kwargs: dict[str, Any] = {
            "user": cfg.username or "root",
            "password": cfg.password.get_secret_value() if cfg.password else "",
            "database": cfg.database,
            "charset": cfg.charset,
            "autocommit": True,
            "cursorclass": pymysql.cursors.DictCursor,
            "init_command": f"{names}, SESSION sql_mode='{self._SQL_MODE}'",
            "connect_timeout": 10,
            # several statements per round trip (values are still escaped one by one)
            "client_flag": pymysql.constants.CLIENT.MULTI_STATEMENTS,
        }
        if cfg.unix_socket:
            kwargs["unix_socket"] = cfg.unix_socket
        else:
            kwargs["host"] = cfg.host
            kwargs["port"] = cfg.port or 3306
        if cfg.ssl_ca:
            kwargs["ssl"] = {"ca": cfg.ssl_ca}
        return pymysql.connect(**kwargs)

    def begin_sql(self) -> str:
        return "START TRANSACTION"

    def server_version(self, conn: Any) -> str:
        return str(conn.get_server_info())

    def run(self, conn: Any, sql: str, params: Params, fetch: str) -> Any:
        return self.run_many(conn, [(sql, params, fetch)])[0]

    def run_many(self, conn: Any, statements: Sequence[Statement]) -> list[Any]:
        """All statements in one packet (MULTI_STATEMENTS), one result set each."""
        query = ";\n".join(_to_format_style(sql) for sql, _, _ in statements)
        params = tuple(value for _, values, _ in statements for value in values)
        results: list[Any] = []
        with conn.cursor() as cursor:
            cursor.execute(query, params)
            for index, (_, _, fetch) in enumerate(statements):
                if index:
                    cursor.nextset()
                if fetch == "one":
                    results.append(cursor.fetchone())
                elif fetch == "all":
                    results.append(list(cursor.fetchall()))
                elif fetch == "id":
                    results.append(cursor.lastrowid)
                else:
                    results.append(cursor.rowcount)
            while cursor.nextset():
                pass
        return results

    def classify(self, exc: Exception, conn: Any) -> type[DatabaseError] | None:
        import pymysql

        if isinstance(exc, pymysql.err.InterfaceError):
            return LostConnectionError
        if isinstance(exc, (ConnectionError, BrokenPipeError)):
            return LostConnectionError
        if not isinstance(exc, pymysql.err.MySQLError):
            return None
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code in self._LOST_CODES or "gone away" in str(exc) or "Lost connection" in str(exc):
            return LostConnectionError
        if code == 1062:
            return UniqueViolationError
        if code in self._CONCURRENCY_CODES:
            return ConcurrencyError
        return DatabaseError


class _PostgresEngine(_Engine):
    dialect = "pgsql"
    defers_begin = True

    def connect(self) -> Any:
        import psycopg
        from psycopg.rows import dict_row

        cfg = self.cfg
        kwargs: dict[str, Any] = {
            "host": cfg.unix_socket or cfg.host,
            "port": cfg.port or 5432,
            "user": cfg.username or "postgres",
            "dbname": cfg.database,
            "autocommit": True,
            "row_factory": dict_row,
            "client_encoding": cfg.charset or "utf8",
            "connect_timeout": 10,
        }
        if cfg.password:
            kwargs["password"] = cfg.password.get_secret_value()
        if cfg.sslmode:
            kwargs["sslmode"] = cfg.sslmode
        return psycopg.connect(**kwargs)

    def server_version(self, conn: Any) -> str:
        number = int(conn.info.server_version)
        major = number // 10000
        return f"{major}.{number % 10000}" if major >= 10 else f"{major}.{(number // 100) % 100}"

    def run(self, conn: Any, sql: str, params: Params, fetch: str) -> Any:
        return self._result(conn.execute(_to_format_style(sql), tuple(params)), fetch)

    def run_many(self, conn: Any, statements: Sequence[Statement]) -> list[Any]:
        """All statements in one flight (libpq pipeline mode): one round trip instead of one
        per statement. The server stops at the first error, which is raised here; inside an
        explicit transaction that leaves it aborted, so the caller rolls back as on MySQL."""
        if len(statements) == 1:
            return [self.run(conn, *statements[0])]
        with conn.pipeline():
            cursors = [conn.execute(_to_format_style(sql), tuple(params)) for sql, params, _ in statements]
        return [self._result(cursor, fetch) for cursor, (_, _, fetch) in zip(cursors, statements, strict=True)]

    @staticmethod
    def _result(cursor: Any, fetch: str) -> Any:
        if fetch == "one":
            return cursor.fetchone()
        if fetch == "all":
            return cursor.fetchall()
        if fetch == "id":
            row = cursor.fetchone()
            return None if row is None else next(iter(row.values()))
        return cursor.rowcount

    def classify(self, exc: Exception, conn: Any) -> type[DatabaseError] | None:
        import psycopg
        from psycopg import errors

        if isinstance(exc, psycopg.InterfaceError):
            return LostConnectionError
        if not isinstance(exc, psycopg.Error):
            return None
        if conn is not None and (conn.closed or conn.broken):
            return LostConnectionError
        if isinstance(exc, errors.UniqueViolation):
            return UniqueViolationError
        if isinstance(exc, (errors.DeadlockDetected, errors.SerializationFailure, errors.LockNotAvailable)):
            return ConcurrencyError
        if isinstance(exc, (errors.AdminShutdown, errors.ConnectionFailure)):
            return LostConnectionError
        return DatabaseError


_ENGINES: dict[str, type[_Engine]] = {
    "sqlite": _SqliteEngine,
    "mysql": _MySqlEngine,
    "mariadb": _MySqlEngine,
    "pgsql": _PostgresEngine,
}


# -- the connection -------------------------------------------------------------------------


class Database:
    """One lazily opened connection with Laravel's transaction nesting and reconnects."""

    def __init__(self, cfg: DatabaseConnectionConfig, engine: _Engine) -> None:
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
        raise DatabaseError(f"database driver [{cfg.driver}] is not supported") from None
    return Database(cfg, engine_class(cfg))
