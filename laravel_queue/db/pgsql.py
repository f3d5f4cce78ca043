"""PostgreSQL through psycopg 3: several statements per round trip in pipeline mode, and a
session of its own for LISTEN (`PostgresListener`)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from laravel_queue.db.engine import Engine, Params, Statement, _to_format_style
from laravel_queue.db.errors import (
    ConcurrencyError,
    DatabaseError,
    LostConnectionError,
    MissingTableError,
    UniqueViolationError,
)


class PostgresEngine(Engine):
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
        if isinstance(exc, errors.UndefinedTable):
            return MissingTableError
        return DatabaseError


class PostgresListener:
    """A session of its own for LISTEN, listening only while a worker waits.

    Its own: the worker's connection is shared (cache store, batches) and may be inside a
    transaction, where a notification is held until the COMMIT. Only while waiting: a
    session that listens but does not read holds back the server's notification queue for
    every session of the cluster (NOTIFY fails once it fills), as a busy worker would."""

    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine
        self._conn: Any = None

    @staticmethod
    def supported() -> bool:
        """psycopg 3.2+: `notifies()` takes a timeout (3.1's blocks until a notification)."""
        import psycopg

        return "timeout" in inspect.signature(psycopg.Connection.notifies).parameters

    def listen(self, channel: str, probe: str, params: Params) -> Any:
        """LISTEN on `channel`, then run `probe` in the same round trip (a SELECT that tells
        whether anything arrived before the LISTEN took effect); its first value, or None."""
        quoted = '"' + channel.replace('"', '""') + '"'
        conn = self._connection()
        with self._classified(), conn.pipeline():
            conn.execute(f"LISTEN {quoted}")
            found = conn.execute(_to_format_style(probe), tuple(params))
        row = found.fetchone()
        return None if row is None else next(iter(row.values()))

    def wait(self, seconds: float) -> list[str]:
        """Payloads of the notifications received within `seconds` (returns at the first)."""
        with self._classified():
            return [notify.payload for notify in self._connection().notifies(timeout=seconds, stop_after=1)]

    def unlisten(self) -> None:
        """Stop listening and forget what arrived meanwhile; never raises (closing the session
        ends its LISTEN too)."""
        if self._conn is None:
            return
        try:
            self._conn.execute("UNLISTEN *")
            for _ in self._conn.notifies(timeout=0):
                pass
        except Exception:
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._engine.close(self._conn)
            self._conn = None

    def _connection(self) -> Any:
        if self._conn is None:
            with self._classified():
                self._conn = self._engine.connect()
        return self._conn

    @contextmanager
    def _classified(self) -> Iterator[None]:
        """Driver errors as DatabaseError kinds; the session is closed after any of them."""
        try:
            yield
        except Exception as exc:
            kind = self._engine.classify(exc, self._conn)
            if kind is None:
                raise
            self.close()
            raise kind(f"[{self._engine.cfg.name}] LISTEN session: {exc}") from exc
