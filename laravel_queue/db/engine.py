"""What each database engine adapter provides, and the placeholder translation they share."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from functools import lru_cache
from typing import Any

from laravel_queue.config.models import DatabaseConnectionConfig
from laravel_queue.db.errors import DatabaseError

Params = Sequence[Any]
Row = dict[str, Any]
Statement = tuple[str, Params, str]  # sql, params, fetch mode: rowcount | one | all | id


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


class Engine:
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
