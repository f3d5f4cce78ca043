"""MySQL and MariaDB through pymysql: several statements per packet (MULTI_STATEMENTS)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from laravel_queue.db.engine import Engine, Params, Statement, _to_format_style
from laravel_queue.db.errors import (
    ConcurrencyError,
    DatabaseConfigError,
    DatabaseError,
    LostConnectionError,
    MissingTableError,
    UniqueViolationError,
)


class MySqlEngine(Engine):
    dialect = "mysql"
    quote_char = "`"
    defers_begin = True
    _LOST_CODES = frozenset({2006, 2013, 2014, 2045, 2055, 1927, 4031})
    _CONCURRENCY_CODES = frozenset({1205, 1213})
    _NO_SUCH_TABLE = 1146  # ER_NO_SUCH_TABLE
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
            raise DatabaseConfigError(f"invalid DB_CHARSET {cfg.charset!r}")
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
        if code == self._NO_SUCH_TABLE:
            return MissingTableError
        return DatabaseError
