"""PostgreSQL through psycopg 3: several statements per round trip in pipeline mode."""

from __future__ import annotations

from collections.abc import Sequence
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
